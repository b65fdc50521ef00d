"""How the ``kernbench`` command ends when the world around it is hostile: Ctrl-C and SIGTERM, a stdout that is
closed or full, a terminal that cannot print UTF-8, launcher variables left in a plain shell, absurd ``--ranks``
(kernbench/cli/process.py, kernbench/cli/output.py; docs/adr/0018). Each runs the real command in a child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pdes.transport import LAUNCHER_VARS
from tests.kernbench.helpers import REPO_ROOT
from tests.pdes.test_mpi_jobs import MPIRUN
from tests.test_failure_matrix import bench

KERNBENCH = [sys.executable, "-m", "kernbench.cli.main"]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    return {**base, "PYTHONPATH": str(REPO_ROOT), **extra}


@pytest.mark.parametrize(
    ("redirect", "message"),
    [
        ("closed", "kernbench: stdout is closed: the report would be lost (redirect it, e.g. > /dev/null)\n"),
        ("/dev/full", "kernbench: cannot print the report on stdout: No space left on device (errno 28)\n"),
    ],
)
def test_a_closed_or_full_stdout_is_one_line_on_stderr(redirect, message):
    if redirect == "/dev/full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    cmd = [*KERNBENCH, "run", "--bench", "gemm_single_pe", "--json"]
    if redirect == "closed":  # kernbench ... >&-
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=env(),
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            pass_fds=(),
            preexec_fn=lambda: os.close(1),
        )
    else:
        with open(redirect, "w") as full:
            proc = subprocess.run(
                cmd, cwd=REPO_ROOT, env=env(), stdout=full, stderr=subprocess.PIPE, text=True, timeout=60
            )
    assert (proc.returncode, proc.stderr) == (2 if redirect == "closed" else 4, message)


def test_a_non_utf8_terminal_still_gets_the_fail_report():
    proc = subprocess.run(
        [*KERNBENCH, "run", *bench("non_ascii_error")[3:]],
        cwd=REPO_ROOT,
        env=env(LC_ALL="C", PYTHONUTF8="0", PYTHONIOENCODING="ascii"),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert b"ValueError: temp\\xe9rature trop \\xe9lev\\xe9e \\u2717 (at non_ascii_error.py:5)" in proc.stdout
    assert proc.stderr == b""


def test_launcher_variables_without_a_launcher_do_not_silence_the_command():
    leftover = env(PMI_RANK="1", PMI_SIZE="2", MPI_LOCALNRANKS="2")
    proc = subprocess.run(
        [*KERNBENCH, "probe", "--case", "nope"], env=leftover, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("kernbench: unknown case 'nope'")
    helped = subprocess.run([*KERNBENCH, "--help"], env=leftover, capture_output=True, text=True, timeout=60)
    assert (helped.returncode, helped.stdout.startswith("usage: kernbench")) == (0, True)


def test_ranks_beyond_the_sip_count_are_refused_at_once():
    t0 = time.monotonic()
    proc = subprocess.run(
        [*KERNBENCH, "run", "--bench", "ccl_allreduce", "--ranks", "100000"],
        cwd=REPO_ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith("kernbench: --ranks 100000: at most 2, one virtual rank per SIP ("), proc.stderr
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize(
    "ranks",
    [None, pytest.param(2, marks=pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed"))],
    ids=["one process", "mpirun -n 2"],
)
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_end_the_job_quietly(tmp_path, ranks, signum, code):
    """As a terminal's Ctrl-C does, the signal goes to the whole process group (mpirun included)."""
    ready = tmp_path / "ready"
    cmd = ([MPIRUN, "-n", str(ranks)] if ranks else []) + [sys.executable, *bench("spin")]
    job = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=env(KERNBENCH_TEST_READY=str(ready), MPIEXEC_TIMEOUT="60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(job.pid, signum)
        out, err = job.communicate(timeout=30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert job.returncode == code, err
    assert "Traceback" not in out + err
    lines = [line for line in (out + err).splitlines() if not line.startswith(("[mpiexec@", f"Abort({code})"))]
    assert lines == []  # mpirun's own Ctrl-C lines and MPICH's abort line aside
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # no process of the job is left
        try:
            os.killpg(job.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("processes of the job are left")


def test_os_exit_of_a_forked_child_is_its_own_business():
    """Only the process that runs the simulation treats os._exit as a run ended without its report."""
    script = (
        "import os\n"
        "from kernbench.cli import process\n"
        "process.setup()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(7)\n"
        "print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env(), capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "7\n", "")
