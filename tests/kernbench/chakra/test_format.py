"""The Chakra format, read and written by the project's own code: length-delimited protobuf messages, a
GlobalMetadata then Nodes, with Chakra's field numbers (ASTRA-sim's files read back byte for byte)."""

import pytest

from kernbench.chakra import TraceWriter, decode, read_messages, write_ranks
from kernbench.chakra.schema import COMM_TYPES, NODE_TYPES, Node
from kernbench.chakra.stream import encode_varint, write_messages
from kernbench.chakra.workload import rank_files
from tests.kernbench.chakra.helpers import MICROBENCHMARKS, microbenchmark, needs_microbenchmarks


def test_a_varint_is_seven_bits_a_byte_low_first():
    assert encode_varint(0) == b"\x00"
    assert encode_varint(127) == b"\x7f"
    assert encode_varint(128) == b"\x80\x01"
    assert encode_varint(1 << 20) == b"\x80\x80\x40"


def test_the_schema_has_chakras_numbers():
    """et_def.proto: NodeType, CollectiveCommType, and the Node fields by number."""
    assert (NODE_TYPES["COMM_COLL_NODE"], NODE_TYPES["COMP_NODE"]) == (7, 4)
    assert (COMM_TYPES["ALL_TO_ALL"], COMM_TYPES["BARRIER"]) == (6, 9)
    fields = {f.name: f.number for f in Node.DESCRIPTOR.fields}
    assert fields == {
        "id": 1,
        "name": 2,
        "type": 3,
        "ctrl_deps": 4,
        "data_deps": 5,
        "start_time_micros": 6,
        "duration_micros": 7,
        "inputs": 8,
        "outputs": 9,
        "attr": 10,
    }
    assert Node(id=5, duration_micros=3).SerializeToString() == b"\x08\x05\x38\x03"


def test_what_the_writer_writes_the_reader_reads(tmp_path):
    w = TraceWriter()
    a = w.comp("fwd", duration_us=12)
    b = w.comp("gemm", num_ops=1 << 30, tensor_size=1 << 20, deps=[a])
    c = w.collective("all_gather", 4096, deps=[b], group="7")
    w.send(3, 512, tag=9, deps=[c])
    w.recv(1, 512, deps=[c])
    w.memory("load", 1 << 16)
    w.host("c10d::allreduce_", 2)
    w.add("METADATA_NODE", "pg", ctrl_deps=[a])
    path = w.write(tmp_path / "t.0.et")
    meta, messages = read_messages(path)
    assert meta.version == "0.0.4"
    nodes = [decode(m, str(path)) for m in messages]
    assert [(n.id, n.kind) for n in nodes] == [
        (0, "compute"),
        (1, "compute"),
        (2, "collective"),
        (3, "send"),
        (4, "recv"),
        (5, "memory"),
        (6, "host"),
        (7, "none"),
    ]
    fwd, gemm, ag, send, recv, mem, host, meta_node = nodes
    assert (fwd.duration_us, gemm.duration_us) == (12, 0)
    assert (gemm.num_ops, gemm.tensor_size, gemm.deps) == (1 << 30, 1 << 20, (0,))
    assert (ag.op, ag.size, ag.group, ag.deps) == ("all_gather", 4096, "7", (1,))
    assert (send.peer, send.size, send.tag) == (3, 512, 9)
    assert (recv.peer, recv.size, recv.tag) == (1, 512, 0)
    assert (mem.op, mem.size) == ("load", 1 << 16)
    assert host.duration_us == 2
    assert meta_node.deps == (0,)  # control dependencies count as dependencies


def test_write_ranks_names_files_as_astra_sim_does(tmp_path):
    paths = write_ranks(tmp_path / "job", [TraceWriter(), TraceWriter(), TraceWriter()])
    assert [p.name for p in paths] == ["job.0.et", "job.1.et", "job.2.et"]
    assert rank_files(str(tmp_path / "job")) == [0, 1, 2]


@needs_microbenchmarks
def test_astra_sims_microbenchmarks_read_and_write_back_byte_for_byte(tmp_path):
    """Every file of the shared set: one COMM_COLL node of 1 MiB; written again, the same bytes."""
    files = sorted(MICROBENCHMARKS.glob("*/*/*.et"))
    assert len(files) == 4 * (4 + 8 + 16)
    for path in files:
        meta, messages = read_messages(path)
        [node] = [decode(m, str(path)) for m in messages]
        assert (node.kind, node.size, node.group) == ("collective", 1 << 20, "")
        assert node.op == path.parent.parent.name
        out = tmp_path / "copy.et"
        with out.open("wb") as fh:
            write_messages(fh, [meta, *messages])
        assert out.read_bytes() == path.read_bytes()


@needs_microbenchmarks
def test_a_microbenchmark_set_is_one_file_per_rank():
    assert rank_files(microbenchmark("all_to_all", 16)) == list(range(16))


@pytest.mark.parametrize("value", [True, 7, 2.5, "x"])
def test_attributes_keep_their_type(value, tmp_path):
    w = TraceWriter()
    w.add("COMP_NODE", "n", mine=value)
    _, [msg] = read_messages(w.write(tmp_path / "a.0.et"))
    [attr] = msg.attr
    assert getattr(attr, attr.WhichOneof("value")) == value
