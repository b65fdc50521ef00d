"""``kernbench run`` under ``mpirun -n 2``: a bench on sip1 runs on rank 1 and reports what one process reports."""

import json
from pathlib import Path

import pytest

from tests.kernbench.helpers import DP_STEP_SMALL
from tests.kernbench.test_run_cli import SPMD_BOOM, SPMD_TIMED, write_bench
from tests.pdes.test_mpi_jobs import MPIRUN, run

pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")

RUN = ["-m", "kernbench.cli.main", "run", "--topology", "topology.yaml", "--json"]


def without_rank_and_wall(line: dict) -> dict:
    """What must not depend on the rank count: all but ``wall_s``, ``ranks`` and each SIP's ``rank``."""
    out = {k: v for k, v in line.items() if k not in ("wall_s", "ranks")}
    out["results"] = [{k: v for k, v in r.items() if k != "rank"} for r in line["results"]]
    return out


def test_bench_on_the_other_ranks_sip_runs_there_and_prints_the_same_once():
    single, _ = run([*RUN, "--bench", "gemm_single_pe", "--device", "sip:1"])
    assert single.returncode == 0, single.stderr
    double, _ = run([*RUN, "--bench", "gemm_single_pe", "--device", "sip:1"], ranks=2)
    assert double.returncode == 0, double.stderr
    one, two = json.loads(single.stdout), json.loads(double.stdout)  # one line each: only rank 0 prints
    assert one["status"] == two["status"] == "PASS"
    assert (one["ranks"], two["ranks"]) == (1, 2)
    assert (one["results"][0]["rank"], two["results"][0]["rank"]) == (0, 1)  # sip1 lives on rank 1
    assert without_rank_and_wall(two) == without_rank_and_wall(one)


def test_failing_bench_under_mpirun_exits_nonzero_with_one_fail_line(tmp_path):
    (tmp_path / "failing.py").write_text('"""Fails."""\n\ndef run(torch):\n    raise ValueError("no luck")\n')
    proc, _ = run([*RUN, "--bench", "failing", "--device", "sip:1", "--benches-dir", str(tmp_path)], ranks=2)
    assert proc.returncode == 1, proc.stderr
    line = json.loads(proc.stdout)
    assert line["status"] == "FAIL"
    assert "ValueError: no luck" in line["error"]


@pytest.mark.parametrize("bench", ["ccl_allreduce", "tp_mlp"])
@pytest.mark.parametrize(("sips", "ranks"), [(2, 2), (4, 2), (4, 4)])
def test_spmd_benches_give_the_same_result_on_any_number_of_ranks(tmp_path, bench, sips, ranks):
    """The SPMD benches: one process and mpirun -n 2 / -n 4 print the same PASS line and latency."""
    text = (Path(__file__).resolve().parents[2] / "topology.yaml").read_text()
    text = text.replace("sip_count: 2 ", f"sip_count: {sips} ", 1)
    topology = tmp_path / "topology.yaml"
    topology.write_text(text)
    args = ["-m", "kernbench.cli.main", "run", "--topology", str(topology), "--json", "--bench", bench]
    single, _ = run(args)
    split, _ = run(args, ranks=ranks)
    assert single.returncode == split.returncode == 0, (single.stderr, split.stderr)
    one, many = json.loads(single.stdout), json.loads(split.stdout)
    assert one["status"] == "PASS"
    assert one["results"][0]["metrics"]["world_size"] == sips
    if bench == "ccl_allreduce":
        assert one["results"][0]["metrics"]["result"] == f"ring_allreduce_tcm (ws={sips}): {sips} OK"
    assert one["sips"] == list(range(sips))
    assert many["ranks"] == ranks
    assert without_rank_and_wall(many) == without_rank_and_wall(one)


@pytest.mark.parametrize(
    ("algorithm", "kind", "ranks"),
    [
        ("hierarchical_allreduce", "ring_1d", 4),
        ("intercube_allreduce", "torus_2d", 4),
        ("intercube_allreduce", "mesh_2d_no_wrap", 2),
        ("tree_allreduce", "ring_1d", 2),
        ("ring_allreduce_sram", "torus_2d", 2),
        ("ring_allreduce_all_pes", "ring_1d", 4),
    ],
)
def test_every_kind_of_ccl_algorithm_gives_the_same_result_under_mpirun(tmp_path, algorithm, kind, ranks):
    """ccl_allreduce with other ccl.yaml algorithms on 4 SIPs: one process and mpirun print the same line."""
    text = (Path(__file__).resolve().parents[2] / "topology.yaml").read_text()
    text = text.replace("sip_count: 2 ", "sip_count: 4 ", 1).replace("topology: ring_1d ", f"topology: {kind} ", 1)
    topology = tmp_path / "topology.yaml"
    topology.write_text(text)
    args = [
        "-m",
        "kernbench.cli.main",
        "run",
        "--topology",
        str(topology),
        "--json",
        "--bench",
        "ccl_allreduce",
        "--algorithm",
        algorithm,
    ]
    single, _ = run(args)
    split, _ = run(args, ranks=ranks)
    assert single.returncode == split.returncode == 0, (single.stderr, split.stderr)
    one, many = json.loads(single.stdout), json.loads(split.stdout)
    metrics = one["results"][0]["metrics"]
    assert one["status"] == "PASS"
    assert metrics["result"] == f"{algorithm} (ws=4): {metrics['shards']} OK"
    assert without_rank_and_wall(many) == without_rank_and_wall(one)


def test_more_ranks_than_sips_warns_once_and_gives_the_same_result():
    """mpirun -n 3 over the 2-SIP default: rank 2 owns no SIP; one warning line for the whole job, on stderr."""
    args = [*RUN, "--bench", "gemm_single_pe", "--device", "all"]
    single, _ = run(args)
    split, _ = run(args, ranks=3)
    assert single.returncode == split.returncode == 0, split.stderr
    warning = "kernbench: warning: 3 ranks for 2 SIPs: rank 2 simulates nothing"
    assert split.stderr.splitlines().count(warning) == 1
    assert warning not in single.stderr
    assert without_rank_and_wall(json.loads(split.stdout)) == without_rank_and_wall(json.loads(single.stdout))


def test_topology_prints_once_under_mpirun():
    proc, _ = run(
        ["-m", "kernbench.cli.main", "topology", "--topology", "topology.yaml", "--sips", "4", "--json"], ranks=2
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert json.loads(line)["sips"] == 4


@pytest.mark.parametrize("ranks", [2, 4])
def test_dp_step_gives_the_same_json_on_any_number_of_ranks(ranks):
    """One data-parallel step on 4 SIPs (small sizes): one process and mpirun -n 2 / -n 4 give the same record."""
    args = ["-m", "kernbench.cli.main", "run", "--topology", "topology.yaml", "--sips", "4", "--json"]
    args += ["--bench", "dp_step", *DP_STEP_SMALL]
    single, _ = run(args)
    split, _ = run(args, ranks=ranks)
    assert single.returncode == split.returncode == 0, (single.stderr, split.stderr)
    one, many = json.loads(single.stdout), json.loads(split.stdout)
    assert one["status"] == "PASS"
    assert one["results"][0]["metrics"]["buckets"] == 3
    assert many["ranks"] == ranks
    assert without_rank_and_wall(many) == without_rank_and_wall(one)


@pytest.mark.parametrize(
    ("partition", "ranks_of_sips"),
    [("round_robin", [0, 1, 0, 1]), ("blocks", [0, 0, 1, 1]), ("tiles", [0, 0, 1, 1])],
)
def test_the_partition_deals_sips_to_ranks_and_changes_no_result(partition, ranks_of_sips):
    """--partition round_robin (the default): SIP i on rank i mod 2; blocks: halves; tiles: rows of the 2 x 2 SIP
    grid. The same JSON as one process."""
    args = ["-m", "kernbench.cli.main", "run", "--json", "--bench", "dp_step", "--sips", "4", *DP_STEP_SMALL]
    single, _ = run(args)
    dealt, _ = run([*args, "--partition", partition], ranks=2)
    assert single.returncode == dealt.returncode == 0, (single.stderr, dealt.stderr)
    one, two = json.loads(single.stdout), json.loads(dealt.stdout)
    assert one["status"] == "PASS"
    assert [r["rank"] for r in two["results"]] == ranks_of_sips
    assert without_rank_and_wall(two) == without_rank_and_wall(one)


@pytest.mark.parametrize(("name", "body", "code"), [("spmd_timed", SPMD_TIMED, 0), ("spmd_boom", SPMD_BOOM, 1)])
def test_spmd_latency_phases_and_error_line_are_the_same_under_mpirun(tmp_path, name, body, code):
    """Each SIP's worker time and phase table travel to every process; the failing rank's line is named on both."""
    args = [*RUN, "--bench", name, "--benches-dir", write_bench(tmp_path, name, body)]
    single, _ = run(args)
    split, _ = run(args, ranks=2)
    assert single.returncode == split.returncode == code, (single.stderr, split.stderr)
    one, two = json.loads(single.stdout), json.loads(split.stdout)
    assert [r["rank"] for r in two["results"]] == [0, 1]
    assert without_rank_and_wall(two) == without_rank_and_wall(one)
    if code == 0:
        assert all(r["phases"] and r["sim_latency_ns"] > 0 for r in one["results"])
    else:
        assert one["results"][0]["error"].endswith("ValueError: boom (at spmd_boom.py:8)")


@pytest.mark.parametrize("ranks", [2, 4])
def test_barrier_releases_at_the_same_instant_on_any_number_of_ranks(ranks):
    """The barrier bench on a 4x4 torus with a straggler: every rank leaves at one instant, whatever the ranks."""
    args = [
        "-m",
        "kernbench.cli.main",
        "run",
        "--topology",
        "topology.yaml",
        "--sips",
        "16",
        "--sip-topology",
        "torus_2d",
        "--json",
        "--bench",
        "barrier",
        "--set",
        "straggler=6",
    ]
    single, _ = run(args)
    split, _ = run(args, ranks=ranks)
    assert single.returncode == split.returncode == 0, split.stderr
    one = json.loads(single.stdout)
    assert one["results"][0]["metrics"]["skew_ns"] == 0
    assert without_rank_and_wall(json.loads(split.stdout)) == without_rank_and_wall(one)


LLM_SMALL = [
    *("--sips", "8"),
    *("--set", "tp=2", "--set", "pp=2", "--set", "layers=2", "--set", "seq=16"),
    *("--set", "micro_batches=2", "--set", "hidden=64"),
]


@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("experts", [0, 2])
def test_llm_step_gives_the_same_json_on_any_number_of_ranks(ranks, experts):
    """One training step with TP x PP x DP = 2 x 2 x 2 (and MoE experts): one process and mpirun -n 2 / -n 4
    give the same record."""
    args = [*RUN, "--bench", "llm_step", *LLM_SMALL, "--set", f"experts={experts}"]
    single, _ = run(args)
    split, _ = run(args, ranks=ranks)
    assert single.returncode == split.returncode == 0, split.stderr
    one = json.loads(single.stdout)
    assert one["status"] == "PASS"
    assert (one["results"][0]["metrics"]["moe_ns"] > 0) == bool(experts)
    assert without_rank_and_wall(json.loads(split.stdout)) == without_rank_and_wall(one)
