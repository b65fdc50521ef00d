"""Traces written here run as ASTRA-sim's feeder runs them: nodes issued as their parents finish, one compute node at
a time, a group's collectives in order, compute and communication overlapping as far as the dependencies allow; the
report's figures checked against schedules worked out by hand."""

import contextlib
import io
import json

import pytest

from kernbench.chakra import TraceWriter, write_ranks
from kernbench.cli.main import main
from kernbench.topology import load_topology
from tests.kernbench.chakra.helpers import chakra
from tests.kernbench.helpers import DEFAULT_TOPOLOGY

MIB = 1 << 20
US = 1e-6  # the report's microseconds are rounded to the picosecond


def same(writer_of, n):
    """The same trace for every rank: ``writer_of(rank, writer)`` fills it."""
    writers = []
    for r in range(n):
        w = TraceWriter()
        writer_of(r, w)
        writers.append(w)
    return writers


def run_ok(capsys, prefix, *args):
    code, line, err = chakra(capsys, prefix, *args)
    assert code == 0, err
    assert (line["status"], line["error"]) == ("PASS", None)
    return line


@pytest.fixture(scope="module")
def all_reduce_us(tmp_path_factory):
    """One 1 MiB all-reduce on 4 SIPs in a ring, alone: what the hand-worked schedules below are made of."""
    prefix = tmp_path_factory.mktemp("solo") / "ar"
    write_ranks(prefix, same(lambda _r, w: w.collective("all_reduce", MIB), 4))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", "--topology", str(DEFAULT_TOPOLOGY), "--chakra", str(prefix), "--sips", "4", "--json"])
    assert code == 0
    return json.loads(out.getvalue())["slowest"]["collectives"][0]["time_us"]


def ddp(layer_us):
    """A DDP-like backward: four layers' gradient GEMMs one after the other, gradients bucketed two layers a bucket
    (DDP's order: the last layers first), each bucket all-reduced once its last layer is done, then the optimizer
    step once both are."""

    def build(_r, w):
        l3 = w.comp("layer3.bwd", layer_us)
        l2 = w.comp("layer2.bwd", layer_us, deps=[l3])
        b0 = w.collective("all_reduce", MIB, deps=[l2], name="bucket0")
        l1 = w.comp("layer1.bwd", layer_us, deps=[l2])
        l0 = w.comp("layer0.bwd", layer_us, deps=[l1])
        b1 = w.collective("all_reduce", MIB, deps=[l0], name="bucket1")
        w.comp("optimizer", 10, deps=[b0, b1])

    return build


AR_4_RING_US = 18.56411
"""A 1 MiB all-reduce on 4 SIPs of the default ring, as ``kernbench ccl-perf --op all_reduce --sips 4 --min-bytes 1M
--max-bytes 1M`` times it (ring_allreduce_tcm)."""


def test_an_all_reduce_alone_takes_what_ccl_perf_says(all_reduce_us):
    assert all_reduce_us == pytest.approx(AR_4_RING_US, abs=1e-5)


@pytest.mark.parametrize(
    ("layer_us", "total", "exposed"),
    [
        # 20 us layers: bucket 0 runs 40..58.564, hidden under layers 1 and 0 (40..80); bucket 1 80..98.564, bare;
        # the optimizer 98.564..108.564. Compute 4 x 20 + 10 = 90, exposed 18.564 (one all-reduce).
        (20, 108.56411, 18.56411),
        # 5 us layers: bucket 0 runs 10..28.564; bucket 1, ready at 20, waits for it and runs 28.564..47.128; the
        # optimizer 47.128..57.128. Compute 4 x 5 + 10 = 30, exposed 27.128 (bucket 0 from 20 on, and bucket 1).
        (5, 57.12822, 27.12822),
    ],
)
def test_a_ddp_step_exposes_the_communication_a_hand_worked_schedule_says(
    tmp_path, capsys, all_reduce_us, layer_us, total, exposed
):
    """Layers of L us, all-reduces of T us: bucket 0 starts at 2L; bucket 1 at max(4L, its group's previous
    all-reduce's end), as the group's collectives run in order; the optimizer after both. 20 us layers hide bucket 0
    entirely (2L + T < 4L); 5 us layers leave bucket 1 waiting for it. The figures are worked out by hand from
    T = 18.56411 us (`AR_4_RING_US`); the formulas check them from the all-reduce measured alone."""
    write_ranks(tmp_path / "ddp", same(ddp(layer_us), 4))
    line = run_ok(capsys, tmp_path / "ddp", "--sips", "4")
    t, lay = all_reduce_us, layer_us
    b0_end = 2 * lay + t
    b1_end = max(4 * lay, b0_end) + t
    assert total == pytest.approx(b1_end + 10, abs=2e-5)
    compute = 4 * lay + 10
    assert exposed == pytest.approx(total - compute, abs=2e-5)  # no host, memory or idle time: the rest is comm
    for rank in line["per_rank"]:
        assert rank["total_us"] == pytest.approx(total, abs=2e-5)
        assert rank["compute_us"] == pytest.approx(compute, abs=US)
        assert rank["exposed_comm_us"] == pytest.approx(exposed, abs=2e-5)
        assert rank["comm_us"] == pytest.approx(2 * t, abs=2e-5)
        assert rank["other_us"] == pytest.approx(0, abs=2e-5)
        [row] = rank["collectives"]
        assert (row["op"], row["size"], row["count"], row["group"], row["ranks"]) == ("all_reduce", MIB, 2, "world", 4)
        assert row["time_us"] == pytest.approx(t, abs=1e-5)
        assert row["busbw_gbs"] == pytest.approx(MIB / (t * 1e3) * 2 * 3 / 4, rel=1e-4)
    assert line["slowest"]["rank"] == 0  # every rank the same: the lowest is named


def test_compute_scale_scales_the_durations_the_trace_gives(tmp_path, capsys, all_reduce_us):
    write_ranks(tmp_path / "ddp", same(ddp(20), 4))
    line = run_ok(capsys, tmp_path / "ddp", "--sips", "4", "--compute-scale", "0.25")
    rank = line["per_rank"][0]
    assert rank["compute_us"] == pytest.approx((4 * 20 + 10) * 0.25, abs=US)
    b0_end = 10 + all_reduce_us
    assert rank["total_us"] == pytest.approx(max(20, b0_end) + all_reduce_us + 2.5, abs=1e-3)
    assert line["compute_scale"] == 0.25


def test_compute_without_a_duration_runs_at_the_sips_roofline(tmp_path, capsys):
    """GEMM units of every PE (128 x 16,384 flops/ns) or every cube's HBM (16 x 8 slices x 204.8 GB/s), whichever
    takes longer: 2^31 flops on 1 MiB is compute-bound, 2^20 flops on 256 MiB memory-bound."""
    topo = load_topology(DEFAULT_TOPOLOGY)
    peak = topo.pes_per_sip * topo.pe.pe_gemm.flops_per_ns
    hbm = topo.cubes_per_sip * topo.cube.hbm_ctrl.cube_effective_bw_gbs

    def build(_r, w):
        a = w.comp("gemm", num_ops=1 << 31, tensor_size=MIB)
        w.comp("norm", num_ops=1 << 20, tensor_size=256 * MIB, deps=[a])

    write_ranks(tmp_path / "r", same(build, 1))
    rank = run_ok(capsys, tmp_path / "r", "--sips", "1")["per_rank"][0]
    expected = (1 << 31) / peak + 256 * MIB / hbm
    assert rank["compute_us"] == pytest.approx(expected / 1e3, abs=US)
    assert rank["total_us"] == rank["compute_us"]


def test_host_ops_and_metadata_take_their_own_time_and_none(tmp_path, capsys):
    """PyTorch's c10d:: nodes (COMM_COLL without comm_type) are host time, on a stream of their own beside compute;
    metadata nodes take none."""

    def build(_r, w):
        m = w.add("METADATA_NODE", "pg")
        w.host("c10d::allreduce_", 7, deps=[m])
        w.comp("gemm", 3, deps=[m])

    write_ranks(tmp_path / "h", same(build, 1))
    rank = run_ok(capsys, tmp_path / "h", "--sips", "1")["per_rank"][0]
    assert (rank["total_us"], rank["compute_us"], rank["exposed_comm_us"], rank["other_us"]) == (7, 3, 0, 4)
    assert rank["nodes"] == 3


def test_memory_nodes_move_their_bytes_through_hbm(tmp_path, capsys):
    """A load and a store of 8 MiB, one after the other (one memory node at a time): spread over the 16 cubes, each
    at most the cube's HBM rate, so no faster than 8 MiB over all of them."""
    topo = load_topology(DEFAULT_TOPOLOGY)
    hbm = topo.cubes_per_sip * topo.cube.hbm_ctrl.cube_effective_bw_gbs

    def build(_r, w):
        w.memory("load", 8 * MIB)
        w.memory("store", 8 * MIB)

    write_ranks(tmp_path / "m", same(build, 1))
    rank = run_ok(capsys, tmp_path / "m", "--sips", "1")["per_rank"][0]
    assert rank["total_us"] > 2 * 8 * MIB / hbm / 1e3
    assert rank["other_us"] == rank["total_us"]


def test_point_to_point_pairs_send_and_receive_at_once(tmp_path, capsys):
    """Ranks 0 and 1 swap 1 MiB both ways at once (one batch each: no rank waits for the other), then rank 0
    sends 4 KiB to rank 1 with a tag after some compute."""

    def build(r, w):
        other = 1 - r
        w.send(other, MIB)
        w.recv(other, MIB)
        if r == 0:
            c = w.comp("work", 4)
            w.send(1, 4096, tag=5, deps=[c])
        else:
            w.recv(0, 4096, tag=5)

    write_ranks(tmp_path / "p", same(build, 2))
    line = run_ok(capsys, tmp_path / "p", "--sips", "2")
    zero, one = line["per_rank"]
    assert [(m["kind"], m["count"], m["bytes"]) for m in zero["messages"]] == [
        ("recv", 1, MIB),
        ("send", 2, MIB + 4096),
    ]
    assert [(m["kind"], m["count"]) for m in one["messages"]] == [("recv", 2), ("send", 1)]
    swap = MIB / 100.0 / 1e3  # the link's 100 GB/s, in us
    assert swap < zero["total_us"] < 3 * swap
    assert one["total_us"] >= 4  # its second receive waits for rank 0's compute


def test_process_groups_run_their_collectives_side_by_side(tmp_path, capsys):
    """Groups "1" (ranks 0, 1) and "2" (ranks 2, 3) all-reduce at once, then the world: each pair's all-reduce
    takes about what a 2-rank system's does, and both pairs' end together."""

    def build(r, w):
        a = w.collective("all_reduce", 256 * 1024, group="1" if r < 2 else "2")
        w.collective("all_reduce", 256 * 1024, deps=[a])

    write_ranks(tmp_path / "g", same(build, 4))
    line = run_ok(capsys, tmp_path / "g", "--sips", "4")
    for rank in line["per_rank"]:
        pair, world = sorted(rank["collectives"], key=lambda row: row["ranks"])
        assert (pair["group"], pair["ranks"], world["group"], world["ranks"]) == (
            "1" if rank["rank"] < 2 else "2",
            2,
            "world",
            4,
        )
    times = {r["collectives"][0]["time_us"] for r in line["per_rank"]}
    assert max(times) - min(times) < 1.0


def test_a_barrier_lines_the_ranks_up(tmp_path, capsys):
    """Rank r computes r x 10 us, then all meet at a barrier: every rank leaves it together, after the slowest."""

    def build(r, w):
        c = w.comp("work", 10 * r)
        w.collective("barrier", deps=[c])

    write_ranks(tmp_path / "b", same(build, 4))
    line = run_ok(capsys, tmp_path / "b", "--sips", "4")
    totals = [r["total_us"] for r in line["per_rank"]]
    assert max(totals) - min(totals) < 1e-3
    assert min(totals) > 30
    assert line["per_rank"][3]["exposed_comm_us"] < line["per_rank"][0]["exposed_comm_us"] - 29


def test_trace_shows_each_node_as_a_span_named_after_it(tmp_path, capsys):
    write_ranks(tmp_path / "ddp", same(ddp(5), 2))
    out = tmp_path / "trace.json"
    run_ok(capsys, tmp_path / "ddp", "--sips", "2", "--trace", str(out), "--trace-detail", "kernels")
    events = json.loads(out.read_text())["traceEvents"]
    spans = [e for e in events if e.get("ph") == "X" and e.get("args", {}).get("node") is not None]
    names = {e["name"] for e in spans}
    assert names == {"layer3.bwd", "layer2.bwd", "layer1.bwd", "layer0.bwd", "bucket0", "bucket1", "optimizer"}
    assert len(spans) == 2 * 7  # every node of both ranks
    layer = next(e for e in spans if e["name"] == "layer2.bwd" and e["pid"] == 1)
    assert (layer["ts"], layer["dur"], layer["args"]["kind"]) == (pytest.approx(layer["ts"]), 5.0, "compute")


def test_the_text_report(tmp_path, capsys):
    write_ranks(tmp_path / "ddp", same(ddp(20), 2))
    assert main(["run", "--topology", str(DEFAULT_TOPOLOGY), "--chakra", str(tmp_path / "ddp"), "--sips", "2"]) == 0
    text = capsys.readouterr().out
    assert f"kernbench run --chakra {tmp_path / 'ddp'}: PASS" in text
    assert "slowest rank 0 (sip0): total " in text
    assert "  all_reduce           1,048,576   world      2      2      13.994" in text
    assert "over 2 ranks, min / median / max (us):" in text
