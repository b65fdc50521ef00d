"""Bad traces: one line on stderr naming the file (and the node, where there is one), exit code 2, and no engine
built: every case is found before the simulation."""

import pytest

from kernbench.chakra import TraceWriter, write_ranks
from kernbench.chakra.schema import Node
from kernbench.chakra.stream import encode_varint
from kernbench.cli import chakra_cmd
from tests.kernbench.chakra.helpers import chakra


@pytest.fixture(autouse=True)
def no_simulation(monkeypatch):
    """A bad trace must be refused before any engine exists."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("an engine was built for a bad trace")

    monkeypatch.setattr(chakra_cmd, "Engine", refuse)


def fails(capsys, prefix, *args):
    """The one stderr line of a refused run (its ``kernbench: `` prefix removed)."""
    code, line, err = chakra(capsys, prefix, *args)
    assert code == 2, err
    assert line is None
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    assert err.startswith("kernbench: ")
    return err.removeprefix("kernbench: ").strip()


def ranks(n, build=None):
    """n writers, each with one all-reduce of 1 KiB; ``build(rank, writer)`` adds to (or replaces) it."""
    writers = []
    for r in range(n):
        w = TraceWriter()
        if build is None:
            w.collective("all_reduce", 1024)
        else:
            build(r, w)
        writers.append(w)
    return writers


def test_a_truncated_file_names_the_last_whole_node(tmp_path, capsys):
    def build(_r, w):
        a = w.comp("a", 5)
        w.collective("all_reduce", 1024, deps=[a])

    paths = write_ranks(tmp_path / "t", ranks(2, build))
    paths[1].write_bytes(paths[1].read_bytes()[:-3])
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line.startswith(f"{paths[1]}: node 0: truncated after this node: message 2 at byte ")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b'{"traceEvents": []}\n', "message 0 at byte 0 is 123 bytes long, the file has 19 left"),
        (b"\x03\xff\xff\xff", "Error parsing message with type 'ChakraProtoMsg.GlobalMetadata'"),
        (b"\x02\x18\x05", "its first message is no GlobalMetadata with a version"),
    ],
    ids=["empty", "json", "garbage", "text"],
)
def test_a_file_that_is_no_chakra_trace_says_so(tmp_path, capsys, content, reason):
    write_ranks(tmp_path / "t", ranks(2))
    (tmp_path / "t.1.et").write_bytes(content)
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line.startswith(f"{tmp_path / 't.1.et'}: not a Chakra execution trace")
    assert reason in line


def test_a_message_that_is_no_chakra_node(tmp_path, capsys):
    path = TraceWriter().write(tmp_path / "t.0.et")
    body = Node(id=3, type=42).SerializeToString()
    path.write_bytes(path.read_bytes() + encode_varint(len(body)) + body)
    line = fails(capsys, tmp_path / "t", "--sips", "1")
    assert line == f"{path}: the message at byte 8 (the first node) is not a Chakra Node"


def test_a_missing_rank_file(tmp_path, capsys):
    paths = write_ranks(tmp_path / "t", ranks(4))
    paths[2].unlink()
    line = fails(capsys, tmp_path / "t", "--sips", "4")
    assert (
        line
        == f"{paths[2]}: no such rank file (rank r's trace is PREFIX.r.et, run on SIP r); the set has ranks up to 3"
    )
    assert fails(capsys, tmp_path / "nothing", "--sips", "4").startswith(f"{tmp_path / 'nothing.0.et'}: no such rank")


def test_a_rank_count_that_does_not_match_the_system(tmp_path, capsys):
    write_ranks(tmp_path / "t", ranks(4))
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line == (
        f"{tmp_path / 't'}.{{0..3}}.et: 4 rank files for a system of 2 ranks: give --sips 4 (rank r runs on SIP r), "
        "or --chakra-replicate to run PREFIX.0.et on every SIP"
    )


def test_a_dependency_on_an_unknown_node(tmp_path, capsys):
    def build(r, w):
        w.collective("all_reduce", 1024, deps=[99] if r == 1 else [])

    write_ranks(tmp_path / "t", ranks(2, build))
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line == f"{tmp_path / 't.1.et'}: node 0: depends on node 99, which the trace does not have"


def test_a_cycle(tmp_path, capsys):
    def build(_r, w):
        w.comp("a", 1, deps=[2])
        w.comp("b", 1, deps=[0])
        w.comp("c", 1, deps=[1])

    write_ranks(tmp_path / "t", ranks(1, build))
    line = fails(capsys, tmp_path / "t", "--sips", "1")
    cycle = "node 0 -> node 2 -> node 1 -> node 0"
    assert line == f"{tmp_path / 't.0.et'}: node 0: dependency cycle: {cycle} (each waits for the next)"


def test_a_cycle_through_the_order_of_a_groups_collectives(tmp_path, capsys):
    """Node 0 (an all-reduce) waits for node 2, which waits for node 1, the group's next collective: it can only
    start after node 0."""

    def build(_r, w):
        w.collective("all_reduce", 1024, deps=[2])
        w.collective("all_reduce", 1024)
        w.comp("c", 1, deps=[1])

    write_ranks(tmp_path / "t", ranks(2, build))
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line.startswith(f"{tmp_path / 't.0.et'}: node 0: dependency cycle: node 0 -> node 2 -> node 1 -> node 0")
    assert line.endswith(
        "the cycle goes through the feeder's order: the collectives of group 'world' run in node id order"
    )


def test_an_id_used_twice(tmp_path, capsys):
    w = TraceWriter()
    w.comp("a", 1)
    w.add("COMP_NODE", "b", node_id=0)
    w.write(tmp_path / "t.0.et")
    assert (
        fails(capsys, tmp_path / "t", "--sips", "1")
        == f"{tmp_path / 't.0.et'}: node 0: the id is used by two nodes ('a', 'b')"
    )


@pytest.mark.parametrize(
    ("comm_type", "reason"),
    [
        (42, "unknown comm_type 42 (Chakra's CollectiveCommType has 0..9)"),
        (
            3,
            "comm_type GATHER is not supported; the feeder runs ALL_REDUCE, REDUCE, ALL_GATHER, REDUCE_SCATTER, "
            "BROADCAST, ALL_TO_ALL, BARRIER",
        ),
    ],
)
def test_an_unknown_or_unsupported_comm_type(tmp_path, capsys, comm_type, reason):
    def build(r, w):
        w.comp("a", 1)
        w.add("COMM_COLL_NODE", "odd", comm_type=comm_type if r == 1 else 0, comm_size=64)

    write_ranks(tmp_path / "t", ranks(2, build))
    assert fails(capsys, tmp_path / "t", "--sips", "2") == f"{tmp_path / 't.1.et'}: node 1: {reason}"


def test_a_collective_without_a_size(tmp_path, capsys):
    w = TraceWriter()
    w.add("COMM_COLL_NODE", "ar", comm_type=0)
    w.write(tmp_path / "t.0.et")
    line = fails(capsys, tmp_path / "t", "--sips", "1")
    assert line == f"{tmp_path / 't.0.et'}: node 0: a ALL_REDUCE collective needs attribute comm_size"


def test_ranks_that_disagree_on_a_collectives_size(tmp_path, capsys):
    def build(r, w):
        w.collective("all_reduce", 2048 if r == 2 else 1024)

    write_ranks(tmp_path / "t", ranks(4, build))
    line = fails(capsys, tmp_path / "t", "--sips", "4")
    assert line == (
        f"{tmp_path / 't.2.et'}: node 0: all_reduce of 2,048 bytes is collective #1 of group 'world' here, but "
        f"{tmp_path / 't.0.et'} node 0 (its #1) is all_reduce of 1,024 bytes: the ranks of a group must issue the same "
        "collectives in the same order"
    )


def test_ranks_that_disagree_on_the_order_of_collectives(tmp_path, capsys):
    def build(r, w):
        ops = ["all_reduce", "all_gather"]
        for op in reversed(ops) if r == 1 else ops:
            w.collective(op, 1024)

    write_ranks(tmp_path / "t", ranks(2, build))
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line.startswith(
        f"{tmp_path / 't.1.et'}: node 0: all_gather of 1,024 bytes is collective #1 of group 'world'"
    )


def test_a_rank_with_a_collective_the_others_do_not_have(tmp_path, capsys):
    def build(r, w):
        for _ in range(3 if r == 1 else 2):
            w.collective("all_reduce", 1024)

    write_ranks(tmp_path / "t", ranks(2, build))
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line == (
        f"{tmp_path / 't.1.et'}: node 2: all_reduce of 1,024 bytes is collective #3 of group 'world', which "
        f"{tmp_path / 't.0.et'} does not have (it has 2 collectives on the group)"
    )


def test_a_send_without_its_receive_and_a_receive_of_another_size(tmp_path, capsys):
    def build(r, w):
        if r == 0:
            w.send(1, 4096)
        else:
            w.recv(0, 1024)

    write_ranks(tmp_path / "t", ranks(2, build))
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line == (
        f"{tmp_path / 't.1.et'}: node 0: receive #1 (recv from rank 0) expects 1,024 bytes with tag 0, but "
        f"{tmp_path / 't.0.et'} node 0 (its send #1, send to rank 1) sends 4,096 bytes with tag 0"
    )

    def lonely(r, w):
        if r == 0:
            w.send(1, 4096)

    write_ranks(tmp_path / "u", ranks(2, lonely))
    line = fails(capsys, tmp_path / "u", "--sips", "2")
    assert line == f"{tmp_path / 'u.0.et'}: node 0: send to rank 1 (#1 of the pair) has no matching receive"


@pytest.mark.parametrize("peer", [0, 5])
def test_a_message_to_itself_or_outside_the_system(tmp_path, capsys, peer):
    def build(r, w):
        if r == 0:
            w.send(peer, 64)

    write_ranks(tmp_path / "t", ranks(2, build))
    line = fails(capsys, tmp_path / "t", "--sips", "2")
    assert line == f"{tmp_path / 't.0.et'}: node 0: send to rank {peer}: expected another rank of 0..1"


def test_replicated_traces_pair_offsets_and_need_rank_0s_file(tmp_path, capsys):
    w = TraceWriter()
    w.send(1, 64)
    w.recv(-1, 128)
    w.write(tmp_path / "s.0.et")
    line = fails(capsys, tmp_path / "s", "--sips", "4", "--chakra-replicate")
    assert "receive #1 (recv from rank -1) expects 128 bytes" in line
    assert fails(capsys, tmp_path / "none", "--sips", "4", "--chakra-replicate") == (
        f"{tmp_path / 'none.0.et'}: no such file: --chakra-replicate runs PREFIX.0.et on every SIP"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--set", "a=1"], "--set is a bench option; --chakra runs rank r of the traces on SIP r (drop --set)"),
        (
            ["--device", "sip:1"],
            "--device is a bench option; --chakra runs rank r of the traces on SIP r (drop --device)",
        ),
        (["--compute-scale", "0"], "--compute-scale 0.0: expected a number > 0"),
        (["--scenario", "s.yaml"], "--scenario: what-if scenarios do not apply to Chakra traces yet (drop --scenario)"),
        (["--compare"], "--compare: what-if scenarios do not apply to Chakra traces yet (drop --compare)"),
    ],
)
def test_options_a_trace_run_refuses(tmp_path, capsys, args, line):
    write_ranks(tmp_path / "t", ranks(2))
    assert fails(capsys, tmp_path / "t", "--sips", "2", *args) == line


def test_chakra_options_need_chakra(capsys):
    from kernbench.cli.main import main

    assert main(["run", "--bench", "gemm_single_pe", "--chakra-replicate"]) == 2
    assert capsys.readouterr().err == "kernbench: --chakra-replicate needs --chakra PREFIX\n"
