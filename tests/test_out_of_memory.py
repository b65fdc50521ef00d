"""Running out of memory (docs/adr/0018): a job ends within seconds, exit 3, with one line saying which SIP ran out
doing what, no MemoryError noise, and with ``--json`` still its JSON line; one process and ``mpirun -n 2`` with
only rank 1 limited. The limit is ``resource.setrlimit(RLIMIT_AS)`` in the child (tests/failure_cases/capped.py),
as ``ulimit -v`` sets it.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.pdes.test_mpi_jobs import MPIRUN
from tests.test_failure_matrix import bench, run_job

CAPPED = "tests/failure_cases/capped.py"
MIB = 1 << 20
NOISE = ("MemoryError", "Traceback", "Exception ignored", "SystemError", "Fatal Python error")

RANKS = [
    None,
    pytest.param(2, marks=pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")),
]


def capped_job(limit: int, ranks: int | None, args: list[str]) -> tuple[dict, str, float]:
    """``args`` (of ``python``) with ``limit`` bytes of address space on the last process: the JSON line, the
    stderr, the wall time; the job must end with exit 3 and leave no process behind."""
    last = "all" if ranks is None else str(ranks - 1)
    proc, elapsed, left = run_job([CAPPED, str(limit), last, *args, "--json"], ranks)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert not left
    for noise in NOISE:
        assert noise not in proc.stderr, proc.stderr
    [line] = proc.stdout.splitlines()
    return json.loads(line), proc.stderr, elapsed


def one_line(stderr: str, ranks: int | None) -> str:
    """The line kernbench printed (under mpirun MPICH's ``MPI_Abort`` adds one of its own, after it; hydra, ending
    the job, lost that one in 1 of 20 jobs measured (issue 21): it is MPICH's, not ours to promise)."""
    lines = stderr.splitlines()
    if ranks:
        assert lines[1:] in (
            [],
            ["Abort(3) on node 1 (rank 1 in comm 0): application called MPI_Abort(MPI_COMM_WORLD, 3) - process 1"],
        ), stderr
        lines = lines[:1]
    [line] = lines
    who = "rank 1: " if ranks else ""
    assert line.startswith(f"kernbench: {who}out of memory while "), line
    return line


@pytest.mark.parametrize("ranks", RANKS, ids=["one process", "mpirun -n 2"])
@pytest.mark.parametrize(
    ("name", "doing"),
    [
        ("oom_host", "running host code on sip1 at t=0 (Unable to allocate 16.0 GiB for an array"),
        ("oom_kernel", "running kernel 'hog' on sip1 cube 0 pe 0 at t="),
        ("oom_model", "simulating sip1 at t="),
    ],
)
def test_an_allocation_larger_than_what_is_left_ends_the_run_in_one_line(ranks, name, doing):
    """One allocation fails at once, wherever the process's memory stands (the model's fill: one of its pages)."""
    args = bench(name) + (["--device", "sip:1"] if name == "oom_kernel" else [])
    record, stderr, elapsed = capped_job((512 if name == "oom_model" else 2048) * MIB, ranks, args)
    line = one_line(stderr, ranks)
    assert doing in line, line
    assert record["status"] == "FAIL"
    assert record["error"] == line.removeprefix("kernbench: ")
    assert record["bench"] == name
    assert elapsed < 20


@pytest.mark.parametrize("ranks", RANKS, ids=["one process", "mpirun -n 2"])
def test_a_run_that_grows_to_its_limit_ends_before_an_allocation_fails(ranks):
    """The limit is watched: the run ends within `pdes.memory.MARGIN` of it, before Python has to raise."""
    record, stderr, elapsed = capped_job(384 * MIB, ranks, bench("oom_grow"))
    line = one_line(stderr, ranks)
    assert re.search(r"running host code on sip1 at t=0 \(\d+ of 384 MiB of address space in use, ulimit -v\)$", line)
    assert record["error"] == line.removeprefix("kernbench: ")
    assert elapsed < 20


@pytest.mark.parametrize("ranks", RANKS, ids=["one process", "mpirun -n 2"])
def test_the_16_sip_hierarchical_all_reduce_under_ulimit_v_280000_ends_in_one_line(ranks):
    """The case that spun at 100 % CPU, printed pages of MemoryError, or aborted in greenlet; under mpirun with rank
    1 limited, hung or failed in ``MPI_Abort`` (issue 21)."""
    args = ["-m", "kernbench.cli.main", "run", "--bench", "ccl_allreduce", "--sips", "16"]
    record, stderr, elapsed = capped_job(280000 * 1024, ranks, [*args, "--algorithm", "hierarchical_allreduce"])
    assert re.search(r"of 273 MiB of address space in use, ulimit -v\)$", one_line(stderr, ranks))
    assert record["sips"] == list(range(16))
    assert elapsed < 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ccl-perf", "--max-bytes", "64G"],
            "kernbench: --max-bytes 64G: all_reduce of 64.0 GiB on 2 ranks: 2 ranks in this process, each with a "
            "64.0 GiB buffer, and numpy's float64 reference (128.0 GiB) need at least 256.0 GiB of memory, and this "
            "process can have ",
        ),
        (
            ["run", "--bench", "gemm_single_pe", "--device", "all", "--sips", "4096"],
            "kernbench: --sips 4096: 4096 SIPs running code in this process (docs/guides/big-systems.md, Sizing a job) "
            "need at least 3.0 GiB of memory, and this process can have ",
        ),
    ],
)
def test_a_run_known_not_to_fit_is_refused_before_it_starts(args, message):
    proc, elapsed, _left = run_job([CAPPED, str(1024 * MIB), "all", "-m", "kernbench.cli.main", *args], None)
    assert (proc.returncode, proc.stdout) == (3, ""), proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(message), line
    assert re.search(r"can have \d+(\.\d)? (MiB|GiB) \((ulimit -v|MemAvailable|cgroup memory.max)\)$", line), line
    assert elapsed < 10
