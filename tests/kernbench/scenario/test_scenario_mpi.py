"""Scenarios under ``mpirun -n 2`` and ``-n 4``: every key at once on a data-parallel step, and two jobs sharing a
ring, print the same JSON as one process (ADR 0023: what-if results do not depend on the rank count)."""

import json

import pytest

from tests.kernbench.helpers import DP_STEP_SMALL
from tests.kernbench.test_run_mpi import without_rank_and_wall
from tests.pdes.test_mpi_jobs import MPIRUN, run

pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")

EVERY_KEY = """
compute:
  - sips: [4]
    slowdown: 2.0
links:
  - between: [0, 1]
    bandwidth_gbs: 25.0
  - between: [3, 4]
    down: true
  - between: [7, 6]
    down: true
    from_us: 5.0
jitter:
  compute: 0.1
  seed: 3
"""
TWO_JOBS = """
jobs:
  - bench: ccl_allreduce
    sips: [0, 2, 4, 6]
    params: {n_elem: 16384}
  - bench: dp_step
    sips: [1, 3, 5, 7]
    params: {hidden: 128, batch: 16, cubes: 1, layers: 2}
"""
RUN = ["-m", "kernbench.cli.main", "run", "--topology", "topology.yaml", "--json"]


def one_two_and_four(args: list[str]) -> list[dict]:
    """The JSON line of one process, mpirun -n 2 and mpirun -n 4."""
    lines = []
    for ranks in (None, 2, 4):
        proc, _ = run(args, timeout=240, ranks=ranks)
        assert proc.returncode == 0, proc.stderr
        lines.append(json.loads(proc.stdout))
    assert [line["ranks"] for line in lines] == [1, 2, 4]
    return lines


def test_every_scenario_key_gives_the_same_step_on_any_number_of_ranks(tmp_path):
    path = tmp_path / "every_key.yaml"
    path.write_text(EVERY_KEY)
    args = [*RUN, "--sips", "9", "--sip-topology", "torus_2d", "--bench", "dp_step", *DP_STEP_SMALL]
    one, two, four = one_two_and_four([*args, "--scenario", str(path)])
    assert one["status"] == "PASS"
    assert one["scenario"]["summary"].startswith("sip4 2x slower; link 0-1 25 GB/s; link 3-4 down")
    assert without_rank_and_wall(two) == without_rank_and_wall(one) == without_rank_and_wall(four)


def test_two_jobs_on_one_fabric_give_the_same_report_on_any_number_of_ranks(tmp_path):
    path = tmp_path / "two_jobs.yaml"
    path.write_text(TWO_JOBS)
    lines = one_two_and_four([*RUN, "--sips", "8", "--algorithm", "ring_allreduce_tcm", "--scenario", str(path)])
    assert lines[0]["status"] == "PASS"
    assert [job["bench"] for job in lines[0]["jobs"]] == ["ccl_allreduce", "dp_step"]
    one, two, four = ({k: v for k, v in line.items() if k not in ("wall_s", "ranks")} for line in lines)
    assert one == two == four


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_16_sip_straggler_step_and_its_comparison_are_the_same_under_mpirun_n_2(tmp_path):
    """Issue 25's case: dp_step on a 16-SIP torus, SIP 3 2x slower, ``--compare``: one process and ``mpirun -n 2``
    print the same JSON but for the wall clock and the rank count (the figures of docs/guides/what-if.md)."""
    path = tmp_path / "straggler.yaml"
    path.write_text("compute:\n  - sips: [3]\n    slowdown: 2.0\n")
    args = [*RUN, "--sips", "16", "--sip-topology", "torus_2d", "--bench", "dp_step", "--scenario", str(path)]
    args += ["--set=hidden=128", "--set=batch=16", "--set=cubes=1", "--compare"]
    lines = []
    for ranks in (None, 2):
        proc, _ = run(args, timeout=240, ranks=ranks)
        assert proc.returncode == 0, proc.stderr
        lines.append(json.loads(proc.stdout))
    one, two = lines
    assert (one["ranks"], two["ranks"]) == (1, 2)
    assert without_rank_and_wall(one) == without_rank_and_wall(two)
    base, what = one["compare"]["baseline"], one["compare"]["scenario"]
    picks = [
        (run[who]["rank"], run[who]["step_ns"], run[who]["exposed_comm_ns"])
        for run in (base, what)
        for who in ("slowest", "median")
    ]
    assert picks == [
        (0, pytest.approx(47230.49, abs=0.01), pytest.approx(26870.68, abs=0.01)),
        (15, pytest.approx(46727.49, abs=0.01), pytest.approx(26367.68, abs=0.01)),
        (1, pytest.approx(54745.989, abs=0.01), pytest.approx(34386.179, abs=0.01)),
        (9, pytest.approx(50785.059, abs=0.01), pytest.approx(30425.249, abs=0.01)),
    ]
    assert {run[who]["compute_ns"] for run in (base, what) for who in ("slowest", "median")} == {20359.81}
    assert one["results"][0]["metrics"]["max_compute_ns"] == pytest.approx(27703.3, abs=0.1)  # sip3's
