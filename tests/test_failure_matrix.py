"""How jobs end when one process fails (ADRs 0007 and 0018): each case as a real ``mpirun -n 2`` job and as one process.

Every job must end with a non-zero exit code within 15 s, print the cause exactly once and leave no process
behind. The failing code lives in tests/failure_cases/ and fails on the job's last process (in one process: that
one). These tests start mpirun themselves, so they run in the plain ``pytest`` pass, not under ``--with-mpi``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from pdes.transport import LAUNCHER_VARS
from tests.pdes.test_mpi_jobs import MPIRUN

ROOT = Path(__file__).resolve().parents[1]
BENCHES = "tests/failure_cases/benches"
JOB_LIMIT_S = 15.0
TAG_VAR = "KERNBENCH_FAILURE_MATRIX_TAG"
"""Every process of a job inherits this variable with a fresh value: how leftovers are found in /proc."""


@dataclass(frozen=True)
class Case:
    args: list[str]
    cause: str
    """Text that must appear exactly once in the combined output."""
    exit_code: int | None = None
    """The exact exit code when it is ours to choose (None: any non-zero code, e.g. mpirun's after an abort)."""
    also: tuple[str, ...] = ()
    """Further text the output must contain."""


def bench(name: str) -> list[str]:
    return ["-m", "kernbench.cli.main", "run", "--bench", name, "--benches-dir", BENCHES, "--device", "all"]


CASES = {
    "spmd bench raises before spawn": Case(
        bench("raise_before_spawn"),
        "ValueError: boom before spawn (at raise_before_spawn.py:10)",
        1,
        ("kernbench run raise_before_spawn: FAIL",),
    ),
    "bench fails to import": Case(bench("import_fails"), "ImportError: boom at import", 2, ("kernbench: ",)),
    "script raises after import pdes": Case(
        ["tests/failure_cases/raise_after_import_pdes.py"], "RuntimeError: boom after import pdes"
    ),
    "script raises after building an Engine": Case(
        ["tests/failure_cases/raise_after_engine.py"], "RuntimeError: boom after building an Engine"
    ),
    "spawned worker raises in a bench": Case(
        bench("spawn_boom"),
        "SpawnException: rank 1 failed: ValueError: boom in a worker (at spawn_boom.py:12)",
        1,
        ("rank 0 then deadlocked waiting",),
    ),
    "spawned worker raises in a script": Case(
        ["tests/failure_cases/spawn_boom.py"],
        "SpawnException: rank 1 failed: ValueError: boom in a worker (at spawn_boom.py:14)",
        also=("rank 0 then deadlocked waiting", "rank 1's traceback"),
    ),
    "sys.exit in one SIP's host code": Case(
        bench("sys_exit"), "sip1: SystemExit: 3", 1, ("kernbench run sys_exit: FAIL", "sip0: PASS")
    ),
    "os._exit(0) in one SIP's host code": Case(
        bench("os_exit"), "os._exit(0) ended the process before the run's report (at os_exit.py:8); the run fails", 1
    ),
    "a metric msgpack cannot carry": Case(
        bench("big_metric"),
        "sip1: metric 'big' cannot be sent between ranks: the integer 1180591620717411303424 is outside what "
        "msgpack carries (-2**63 .. 2**64-1)",
        1,
        ("status       1 PASS, 1 FAIL", "sip0: PASS", "metrics: big=7"),
    ),
    "a spawned rank returns a value msgpack cannot carry": Case(
        bench("spawn_big_result"),
        "CodecError: rank 1's return value cannot be sent between processes: the integer 1180591620717411303424",
        1,
    ),
    "an exception whose __str__ raises": Case(
        bench("hostile_error"), "Hostile: <Hostile.__str__ raised RuntimeError> (at hostile_error.py:10)", 1
    ),
    "a kernel receive nobody sends to": Case(
        bench("recv_deadlock"),
        "sip1: IpcqDeadlock: IPCQ deadlock: 2 queue(s) wait for something no PE will send; sip1.cube0.pe0 E: waits "
        "for data #0 from sip0.cube0.pe0 (this SIP's host code never ended)",
        1,
        ("kernbench run recv_deadlock: FAIL",),
    ),
}


def leftovers(tag: str) -> list[int]:
    """Processes whose environment carries ``TAG_VAR=tag``."""
    needle = f"{TAG_VAR}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:  # gone meanwhile, or not ours
                continue
            if needle in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


def run_job(
    args: list[str], ranks: int | None, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, float, list[int]]:
    """Run the job in its own session (``env``: variables to add); return it, its wall time and the processes it
    left behind."""
    tag = uuid.uuid4().hex
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        MPIEXEC_TIMEOUT="60",
        MPIR_CVAR_CH4_PROGRESS_THROTTLE="true",
        MPIR_CVAR_ENABLE_HEAVY_YIELD="1",
        **(env or {}),
        **{TAG_VAR: tag},
    )
    for var in (*LAUNCHER_VARS, "PDES_NO_ABORT_HOOK"):
        env.pop(var, None)
    cmd = ([MPIRUN, "-n", str(ranks)] if ranks else []) + [sys.executable, *args]
    t0 = time.monotonic()
    with subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as job:
        try:
            stdout, stderr = job.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, 9)
            stdout, stderr = job.communicate()
    elapsed = time.monotonic() - t0
    proc = subprocess.CompletedProcess(cmd, job.returncode, stdout, stderr)
    deadline = time.monotonic() + 5.0  # a launcher may still be reaping its children
    while (left := leftovers(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:  # do not leave them to the next test
        os.kill(pid, 9)
    try:
        os.killpg(job.pid, 0)
        left.append(-job.pid)  # its process group still has members
    except ProcessLookupError:
        pass
    return proc, elapsed, left


@pytest.mark.parametrize(
    "ranks",
    [
        None,
        pytest.param(
            2, marks=pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
        ),
    ],
    ids=["one process", "mpirun -n 2"],
)
@pytest.mark.parametrize("name", list(CASES))
def test_failure_ends_the_job_quickly_saying_the_cause_once(name, ranks):
    case = CASES[name]
    proc, elapsed, left = run_job(case.args, ranks)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    if case.exit_code is not None:
        assert proc.returncode == case.exit_code, output
    assert elapsed < JOB_LIMIT_S, output
    assert output.count(case.cause) == 1, output
    for text in case.also:
        assert text in output, output
    assert "unreachable" not in output
    assert not left, f"processes left behind: {left}"
    if ranks and case.exit_code is None:  # an uncaught exception: the rank that raised it names itself
        assert "[rank 1] uncaught exception, ending the MPI job" in output
        assert output.count("Traceback (most recent call last)") == 1, output


def test_a_rank_that_only_heard_of_a_failure_ends_the_job_when_the_failing_rank_is_stuck():
    """Rank 1 raises in the simulation, then hangs; rank 0 got a RemoteError: it waits WAIT_S, then ends the job."""
    if MPIRUN is None:
        pytest.skip("mpirun not installed")
    proc, elapsed, left = run_job(["tests/failure_cases/stuck_after_failure.py"], 2)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert elapsed < JOB_LIMIT_S, output
    assert "[rank 0] rank 1 failed and has not ended the job after 5 s; ending it from here (" in output, output
    assert output.count("ZeroDivisionError: division by zero") == 1, output
    assert not left, f"processes left behind: {left}"


def test_a_bench_failing_to_import_on_one_rank_is_named_with_its_rank():
    if MPIRUN is None:
        pytest.skip("mpirun not installed")
    proc, _, _ = run_job(bench("import_fails"), 2)
    assert proc.stderr.startswith("kernbench: rank 1: bench 'import_fails': importing "), proc.stderr


MPI_ONLY = {
    "processes spawn different nprocs": (
        "spawn_nprocs_differ",
        "ModelError: the ranks' scripts disagree: rank 0: spawn #1 (nprocs=2); rank 1: spawn #1 (nprocs=1)",
    ),
    "processes spawn a different number of times": (
        "spawn_count_differ",
        "the ranks' scripts disagree: rank 0: the end of its script (Simulation.settle); rank 1: spawn #2 (nprocs=2)",
    ),
    "processes judge the run differently": ("checks_differ", "sip0-sip1 (2 SIPs): MPI rank 1: failed checks: mine"),
}


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed")
@pytest.mark.parametrize("name", list(MPI_ONLY))
def test_processes_that_disagree_fail_the_job_naming_the_process(name):
    """What only several processes can do: differ. Rank 0 prints FAIL, and the job's exit code is 1."""
    name, cause = MPI_ONLY[name]
    proc, elapsed, left = run_job([*bench(name), "--json"], 2)
    line = json.loads(proc.stdout)
    assert (proc.returncode, line["status"]) == (1, "FAIL"), proc.stderr
    assert cause in line["error"], line["error"]
    assert elapsed < JOB_LIMIT_S
    assert not left
