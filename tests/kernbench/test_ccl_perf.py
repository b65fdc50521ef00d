"""``kernbench ccl-perf``: nccl-tests' sizes, counts and bandwidths, data checked at every size, the ring's curve
against its alpha-beta model, the errors and the plots."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from kernbench.ccl import load_ccl_config
from kernbench.cli import ccl_perf_cmd, plots
from kernbench.cli.ccl_perf import OPS, CclPerfError, parse_size, points, rank_values, run_sweep, sweep_sizes
from kernbench.cli.main import main
from kernbench.engine import Engine
from kernbench.runtime.distributed import Distributed
from kernbench.topology import load_topology

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = str(ROOT / "topology.yaml")
PERF = ["ccl-perf", "--topology", TOPOLOGY]
MIB = 1 << 20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sweep(op="all_reduce", sips=2, max_bytes=64 * 1024, algorithm=None, root=0, dtype="f32", min_bytes=8):
    topo = load_topology(TOPOLOGY, sips=sips)
    ccl = load_ccl_config()
    if algorithm is not None:
        ccl = ccl.with_algorithm(algorithm)
    return run_sweep(Engine(topo, report_requests=False), ccl, op, sweep_sizes(min_bytes, max_bytes, 2), dtype, root)


@pytest.fixture(scope="module")
def ring_rows():
    """ring_allreduce_tcm on 2 SIPs, 8 B to 4 MiB: past 1 MiB the curve is flat (64 MiB: 78.03 GB/s)."""
    return sweep(max_bytes=4 * MIB)


def test_sizes_parse_and_double_as_nccl_tests_reads_them():
    assert [parse_size(t, "--max-bytes") for t in ("8", "64K", "64M", "1g")] == [8, 64 << 10, 64 << 20, 1 << 30]
    assert sweep_sizes(8, 64, 2) == [8, 16, 32, 64]
    assert sweep_sizes(1, 100, 10) == [1, 10, 100]
    for bad, match in (("12Q", "--max-bytes 12Q: expected a byte count"), ("0", "--max-bytes 0: expected")):
        with pytest.raises(CclPerfError, match=match):
            parse_size(bad, "--max-bytes")
    with pytest.raises(CclPerfError, match="--min-bytes 64 is larger than --max-bytes 8"):
        sweep_sizes(64, 8, 2)
    with pytest.raises(CclPerfError, match="--factor 1: expected an integer >= 2"):
        sweep_sizes(8, 64, 1)


def test_points_round_like_nccl_tests():
    """all_gather on 4 ranks: size = the gathered bytes, count = each rank's share, rounded down to whole
    elements per rank (8 B is half an element each: left out); all_reduce rounds to a multiple of the shards."""
    sizes = [8, 16, 32, 100]
    ag = points(OPS["all_gather"], sizes, "f32", world=4, shards=1)
    assert [(p.size, p.count) for p in ag] == [(16, 1), (32, 2), (96, 6)]
    ar = points(OPS["all_reduce"], sizes, "f32", world=4, shards=8)
    assert [(p.size, p.count) for p in ar] == [(32, 8), (96, 24)]
    with pytest.raises(CclPerfError, match="--max-bytes 16: too small for one f32 element per rank"):
        points(OPS["reduce_scatter"], [8, 16], "f32", world=8, shards=1)


def test_values_stay_exact_in_the_dtype():
    """Every rank's values are small integers whose sum over the ranks the dtype holds exactly."""
    assert rank_values(1, 4, "f32", 2).tolist() == [3, 10, 0, 7]  # (7 i + 3 r) % 17
    assert rank_values(0, 40, "bf16", 64).max() <= 3  # 64 ranks x 3 <= 256: exact in bf16


def test_bandwidths_follow_nccl_tests_definitions(ring_rows):
    """algbw = size / time; busbw = algbw x 2(n-1)/n (1 for two ranks); data right at every size."""
    assert [r["size"] for r in ring_rows] == [8 << i for i in range(20)]
    for r in ring_rows:
        assert r["count"] == r["size"] // 4
        assert (r["dtype"], r["redop"], r["root"], r["wrong"]) == ("f32", "sum", -1, 0)
        assert r["algbw_gbs"] == pytest.approx(r["size"] / (r["time_us"] * 1e3), rel=1e-12)
        assert r["busbw_gbs"] == pytest.approx(r["algbw_gbs"] * 2 * (2 - 1) / 2, rel=1e-12)


def alpha_beta_us(nbytes: int, p: int, latency_ns: float, link_gbs: float) -> float:
    """The ring all-reduce's alpha-beta model: 2(p-1) steps, each alpha + (n/p) / beta, with alpha the inter-SIP
    link's latency and beta its bandwidth: a lower bound on any ring all-reduce over these links."""
    return 2 * (p - 1) * (latency_ns + nbytes / p / link_gbs) / 1e3


def test_ring_curve_against_its_alpha_beta_model(ring_rows):
    """The expected curve: t(n) = 2(p-1)(alpha + n/(p beta)) with alpha = 500 ns and beta = 100 GB/s, i.e.
    busbw(n) = 2(p-1)/p x n / t(n): latency-bound (busbw ~ n / 1 us) up to ~50 KiB, then rising to beta.

    The simulation never beats the model on two SIPs (the data has to cross the link, and both steps use the same
    link direction), starts latency-bound within a small factor of 2(p-1) alpha (on-chip hops, the PE's issue and
    loads add to the link latency), and its busbw rises with the size towards the link: 86.2 GB/s at 4 MiB, 90.1
    at 64 MiB (the reduce step's loads share the PE's port with the landing pieces). At every size it is within
    10 % of the analytical reference, which has those terms (`kernbench.ccl.model`)."""
    topo = load_topology(TOPOLOGY)
    alpha, beta = topo.system.inter_sip_link.latency_ns, topo.system.inter_sip_link.bandwidth_gbs
    assert (alpha, beta) == (500.0, 100.0)
    for r in ring_rows:
        model = alpha_beta_us(r["size"], 2, alpha, beta)
        assert r["time_us"] >= model, r
        assert r["busbw_gbs"] <= r["size"] / (model * 1e3) < beta
    assert 1.0 <= ring_rows[0]["time_us"] / alpha_beta_us(8, 2, alpha, beta) <= 3.0  # latency-bound end
    busbw = [r["busbw_gbs"] for r in ring_rows]
    assert busbw == sorted(busbw)
    assert all(0.9 <= r["sim_over_model"] <= 1.1 for r in ring_rows), [r["sim_over_model"] for r in ring_rows]


def test_ring_plateau_reaches_70_percent_of_the_link(ring_rows):
    """Issue 14: the pipelined ring keeps the link busy. Its slot-size pieces stream with sends in flight, each
    piece goes on as soon as it arrives, and this rank's pieces are loaded ahead and stored as they are final, so
    on the plateau (4 MiB; 64 MiB: 90.1 GB/s) busbw is 70-100% of beta, the link bandwidth that bounds it
    (t(n) = 2(p-1)(alpha + (n/p)/beta) -> busbw = beta for large n). The serial kernel reached 43%."""
    beta = load_topology(TOPOLOGY).system.inter_sip_link.bandwidth_gbs
    assert 0.70 * beta <= ring_rows[-1]["busbw_gbs"] <= beta


@pytest.mark.parametrize(("op", "factor"), [("all_gather", 3 / 4), ("reduce_scatter", 3 / 4), ("broadcast", 1.0)])
def test_ring_ops_on_four_sips_are_right_at_every_size(op, factor):
    rows = sweep(op=op, sips=4, max_bytes=256 * 1024, root=1)
    assert rows[0]["size"] == 8 * (2 if op != "broadcast" else 1)  # 8 B is half an f32 per rank: left out
    for r in rows:
        assert r["wrong"] == 0, r
        assert r["root"] == (1 if op == "broadcast" else -1)
        assert r["redop"] == ("sum" if op == "reduce_scatter" else "none")
        per_rank = r["size"] // 4 // (4 if op != "broadcast" else 1)
        assert r["count"] == per_rank
        assert r["busbw_gbs"] == pytest.approx(r["algbw_gbs"] * factor, rel=1e-12)


@pytest.mark.parametrize("algorithm", ["hierarchical_allreduce", "tree_allreduce"])
def test_other_all_reduce_algorithms_are_right_at_every_size(algorithm):
    """A multi-PE algorithm that reduces across PEs (hierarchical) and a leader-only tree, on 4 SIPs."""
    rows = sweep(sips=4, max_bytes=16 * 1024, algorithm=algorithm)
    assert rows
    assert all(r["wrong"] == 0 for r in rows)


@pytest.mark.parametrize("dtype", ["f16", "bf16", "i32"])
def test_other_dtypes_are_right(dtype):
    rows = sweep(max_bytes=8 * 1024, min_bytes=1024, dtype=dtype)
    assert [(r["count"], r["wrong"]) for r in rows] == [
        (n // (2 if dtype != "i32" else 4), 0) for n in (1024, 2048, 4096, 8192)
    ]


def test_a_collective_that_does_nothing_is_counted_element_by_element(monkeypatch, capsys):
    """#wrong: the elements, over all ranks, that differ from numpy's sum; the command then exits 1."""
    monkeypatch.setattr(Distributed, "all_reduce", lambda self, *_a, **_k: self.barrier())  # takes time only
    assert main([*PERF, "--max-bytes", "64", "--json"]) == 1
    points_ = [json.loads(line) for line in capsys.readouterr().out.splitlines()][:-1]
    for p in points_:
        mine = [rank_values(r, p["count"], "f32", 2) for r in range(2)]
        assert p["wrong"] == sum(int(np.count_nonzero(m != mine[0] + mine[1])) for m in mine) > 0


def test_text_table_has_nccl_tests_columns_and_average(capsys):
    assert main([*PERF, "--max-bytes", "1K", "--factor", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# kernbench ccl-perf: all_reduce, algorithm ring_allreduce_tcm, 2 ranks")
    assert lines[4].split() == [
        "#",
        *("size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "model", "sim/model"),
    ]
    rows = [line.split() for line in lines if not line.startswith("#")]
    assert [(r[0], r[1], r[2], r[3], r[4], r[8]) for r in rows] == [
        (str(s), str(s // 4), "f32", "sum", "-1", "0") for s in (8, 32, 128, 512)
    ]
    assert all(float(r[10]) == pytest.approx(float(r[5]) / float(r[9]), abs=0.01) for r in rows)
    average = sum(float(r[7]) for r in rows) / 4
    assert lines[-2] == "# Out of bounds values : 0 OK"
    assert lines[-1].startswith("# Avg bus bandwidth    : ")
    assert float(lines[-1].split(":")[1]) == pytest.approx(average, abs=0.01)  # the table rounds to 0.01


def test_json_has_one_point_per_size_and_an_average_per_algorithm(capsys):
    assert (
        main(
            [
                *PERF,
                "--max-bytes",
                "64",
                "--algorithm",
                "ring_allreduce_tcm",
                "--algorithm",
                "ring_allreduce_hbm",
                "--json",
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["type"], r["algorithm"]) for r in records] == [
        *[("point", "ring_allreduce_tcm")] * 4,
        ("avg", "ring_allreduce_tcm"),
        *[("point", "ring_allreduce_hbm")] * 4,
        ("avg", "ring_allreduce_hbm"),
    ]
    assert records[4]["avg_busbw_gbs"] == pytest.approx(sum(r["busbw_gbs"] for r in records[:4]) / 4, abs=1e-6)
    assert {r["link_gbs"] for r in records} == {100.0}
    assert {r["world_size"] for r in records} == {2}
    for r in (r for r in records if r["type"] == "point"):  # timed from one release: every rank ends the same here
        assert r["time_min_us"] <= r["time_avg_us"] <= r["time_max_us"] == r["time_us"]
        assert r["release_skew_us"] == 0.0
        assert r["sim_over_model"] == pytest.approx(r["time_us"] / r["model_us"], rel=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--op", "all_gather", "--algorithm", "tree_allreduce"],
            "kernbench: --algorithm picks the all_reduce algorithm; all_gather always runs on the ring of SIP leaders",
        ),
        (["--op", "broadcast", "--root", "2"], "kernbench: --root 2: expected a rank 0..1"),
        (["--max-bytes", "64Q"], "kernbench: --max-bytes 64Q: expected a byte count"),
        (["--algorithm", "nope"], "kernbench: --algorithm 'nope'"),
        (["--plot", "/nonexistent-dir/x.png"], "kernbench: --plot /nonexistent-dir/x.png: cannot write: directory"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(capsys, args, message):
    assert main([*PERF, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_op_that_does_not_exist_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as info:
        main([*PERF, "--op", "alltoall"])
    assert info.value.code == 2
    assert "argument --op: invalid choice: 'alltoall'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [[*PERF, "--max-bytes", "64"], ["probe", "--topology", TOPOLOGY]], ids=["ccl-perf", "probe"]
)
def test_plot_writes_a_png(tmp_path, command):
    path = tmp_path / "bw.png"
    assert main([*command, "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_without_matplotlib_is_one_line_before_the_run(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    monkeypatch.setattr(ccl_perf_cmd, "run_sweep", lambda *_a: pytest.fail("ran the sweep"))
    assert main([*PERF, "--plot", "x.png"]) == 2
    root = Path(plots.__file__).resolve().parents[2]
    assert (
        capsys.readouterr().err == f"kernbench: --plot x.png: needs matplotlib: pip install -e '.[plot]' (in {root})\n"
    )


def test_the_plot_hint_outside_a_checkout_names_the_package_extra(tmp_path):
    assert plots.plot_install_hint(tmp_path) == "pip install 'kernbench[plot]'"
    assert plots.plot_install_hint(plots.CHECKOUT).startswith("pip install -e '.[plot]' (in ")


def test_all_to_all_and_groups_of_consecutive_ranks_are_right(capsys):
    """Issue 23: nccl-tests rows for all-to-all (pairwise exchange) and for all-reduce in groups of 4 consecutive
    ranks, each group at once, 0 wrong, with their references."""
    for extra in (["--op", "all_to_all", "--sips", "4"], ["--group-size", "4", "--sips", "8"]):
        assert main([*PERF, "--max-bytes", "256K", "--factor", "16", "--json", *extra]) == 0
        points = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        rows = [p for p in points if p["type"] == "point"]
        assert rows
        assert all(r["wrong"] == 0 for r in rows)
        assert all(r["world_size"] == 4 for r in rows)
        assert all(1 / 1.35 <= r["sim_over_model"] <= 1.35 for r in rows), [r["sim_over_model"] for r in rows]


def test_a_group_size_that_does_not_divide_the_ranks_is_one_line(capsys):
    assert main([*PERF, "--group-size", "3", "--sips", "8"]) == 2
    assert capsys.readouterr().err.strip() == "kernbench: --group-size 3: expected a divisor of the 8 ranks"
