"""The dp_step bench (one data-parallel training step) on 2 and 4 SIPs with small sizes, in one process."""

import json

import numpy as np
import pytest

from kernbench.cli.main import main
from tests.kernbench.helpers import DP_STEP_SMALL, REPO_ROOT, load_script

TOPOLOGY = str(REPO_ROOT / "topology.yaml")
SMALL = DP_STEP_SMALL


def step(capsys, sips: int, *sets: str) -> dict:
    code = main(["run", "--topology", TOPOLOGY, "--sips", str(sips), "--json", "--bench", "dp_step", *SMALL, *sets])
    line = json.loads(capsys.readouterr().out)
    assert code == 0, line["error"]
    assert line["status"] == "PASS", line["error"]
    return line


@pytest.mark.parametrize("sips", [2, 4])
def test_dp_step_passes_and_reports_the_breakdown(capsys, sips):
    line = step(capsys, sips)
    assert line["sips"] == list(range(sips))
    assert line["params"]["hidden"] == 128
    (metrics,) = {json.dumps(r["metrics"], sort_keys=True) for r in line["results"]}
    m = json.loads(metrics)
    assert m["world_size"] == sips
    assert m["buckets"] == 3
    assert m["algorithm"] == "ring_allreduce_tcm"
    assert m["step_ns"] == pytest.approx(m["compute_ns"] + m["exposed_comm_ns"])
    assert m["step_ns"] == line["sim_latency_ns"]
    assert 0 < m["exposed_comm_ns"] < m["comm_ns"]
    assert line["results"][0]["checks"] == {"grads_match_numpy": True, "same_bits_on_every_rank": True}


def test_gradients_equal_numpy_mean_of_each_ranks_gradients():
    """The bench's reference itself: the mean of per-rank numpy gradients (each made by its own rank, summed in
    fixed point), here recomputed without roundings."""
    bench = load_script("kernbench/benches/dp_step.py")
    p = {name: default for name, (default, *_) in bench.PARAMS.items()} | {"hidden": 64, "batch": 8, "layers": 2}
    ws = [w.astype(np.float64) for w in bench.weights(p)]
    want = [np.zeros_like(w) for w in ws]
    for rank in range(2):
        x, dy = (a.astype(np.float64) for a in bench.rank_data(p, rank))
        h = np.maximum(x @ ws[0], 0)
        want[1] += h.T @ dy / 2
        want[0] += x.T @ ((dy @ ws[1].T) * (h > 0)) / 2
    ref = bench.Reference(p)
    for rank in range(2):
        ref.add(bench.rank_grads(p, rank), "", np.zeros(0))
    got = ref.sum / (bench.FIXED * 2)
    for g, w in zip(got, want, strict=True):
        assert np.abs(g - w).max() <= 1e-2 * np.abs(w).max()
    assert not np.array_equal(*(bench.rank_data(p, r)[0] for r in range(2)))  # each rank has its own batch


def test_async_buckets_overlap_the_backward(capsys):
    """With overlap the step is shorter than compute + the same all-reduces done after the backward."""
    overlapped = step(capsys, 4)["results"][0]["metrics"]
    serial = step(capsys, 4, "--set", "overlap=false")["results"][0]["metrics"]
    assert serial["exposed_comm_ns"] == serial["comm_ns"]  # nothing hidden
    assert overlapped["step_ns"] < serial["compute_ns"] + serial["comm_ns"] == pytest.approx(serial["step_ns"])
    assert overlapped["exposed_comm_ns"] < serial["exposed_comm_ns"] - 0.2 * serial["comm_ns"]


def test_other_algorithm_and_f32_gradients(capsys):
    line = step(capsys, 4, "--set", "algorithm=tree_allreduce", "--set", "grad_dtype=f32")
    assert line["results"][0]["metrics"]["algorithm"] == "tree_allreduce"


@pytest.mark.parametrize(
    ("sets", "error"),
    [
        (["--set", "hidden=100"], "hidden (100) must be a multiple of 8 (1 cubes x 8 PEs: one column block each)"),
        (["--set", "cubes=16"], "cubes must be 1..15"),
        (["--set", "grad_dtype=bf16"], "grad_dtype must be f32 or f16"),
        (["--set", "batch=8192", "--set", "hidden=1024"], "does not fit a PE's 1 MiB GEMM staging budget"),
        (["--set", "algorithm=hierarchical_allreduce"], "reduces across PEs"),
    ],
)
def test_bad_sizes_are_usage_errors_before_the_run(capsys, sets, error):
    """The bench's check_before_run: one line naming the parameter and its rule, exit 2, nothing on stdout."""
    code = main(["run", "--topology", TOPOLOGY, "--json", "--bench", "dp_step", *SMALL, *sets])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith("kernbench: bench dp_step: "), line
    assert error in line


def test_an_algorithm_on_the_compute_pes_fails_the_run(capsys):
    """What only the process groups' plans show is found in the run: a FAIL (exit 1)."""
    code = main(
        [
            "run",
            "--topology",
            TOPOLOGY,
            "--json",
            "--bench",
            "dp_step",
            *SMALL,
            "--set=algorithm=ring_allreduce_all_pes",
        ]
    )
    line = json.loads(capsys.readouterr().out)
    assert code == 1, line["error"]
    assert "cannot overlap the GEMMs: use overlap=false" in line["error"]


def test_bucket_mib_0_gives_quick_sizes_buckets_to_overlap(capsys):
    """The quick sizes with bucket_mib=0: the gradients in 4 buckets, some overlapped."""
    argv = ["run", "--topology", TOPOLOGY, "--sips", "2", "--json", "--bench", "dp_step"]
    sizes = ["--set=hidden=128", "--set=batch=16", "--set=cubes=1", "--set=bucket_mib=0"]
    assert main([*argv, *sizes]) == 0
    line = json.loads(capsys.readouterr().out)
    m = line["results"][0]["metrics"]
    assert m["buckets"] == 4
    assert line["params"]["bucket_mib"] == m["bucket_mib"] == m["grad_mib"] / 4  # resolved
    assert m["overlap_pct"] > 0


def test_one_bucket_has_no_overlap_to_report(capsys):
    """One bucket is ready only when the backward ends: overlap_pct is null (n/a in text), not 0."""
    argv = ["run", "--topology", TOPOLOGY, "--sips", "2", "--bench", "dp_step", *SMALL, "--set=bucket_mib=1"]
    assert main([*argv, "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["results"][0]["metrics"]
    assert (m["buckets"], m["overlap_pct"]) == (1, None)
    assert main(argv) == 0
    assert "overlap_pct=n/a" in capsys.readouterr().out
