"""Whole mpirun jobs, run as subprocesses: exit codes, aborts, the PHOLD CLI."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdes.abort import WAIT_S
from pdes.transport import LAUNCHER_VARS

ROOT = Path(__file__).resolve().parents[2]
MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
PHOLD = [
    "-m",
    "pdes.phold",
    "--lps",
    "64",
    "--events-per-lp",
    "8",
    "--remote",
    "0.5",
    "--lookahead",
    "1",
    "--mean",
    "1",
    "--until",
    "200",
    "--seed",
    "7",
    "--json",
]

pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")


def run(args, timeout=90, ranks=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPIEXEC_TIMEOUT=str(timeout))
    for var in LAUNCHER_VARS:
        env.pop(var, None)
    cmd = ([MPIRUN, "-n", str(ranks)] if ranks else []) + [sys.executable, *args]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout + 30)
    return proc, time.monotonic() - t0


def phold_line(ranks=None, *extra):
    proc, _ = run([*PHOLD, *extra], ranks=ranks)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_phold_digest_is_the_same_for_simpy_one_process_and_2_3_4_ranks():
    reference = phold_line(None, "--engine", "simpy")
    single = phold_line(None)
    assert single["digest"] == reference["digest"]
    assert single["events"] == reference["events"]
    for n in (2, 3, 4):
        line = phold_line(n)
        assert (line["digest"], line["events"], line["ranks"]) == (reference["digest"], reference["events"], n)
    assert set(single) >= {
        "digest",
        "events",
        "wall_s",
        "events_per_s",
        "real_msgs",
        "null_msgs",
        "ranks",
        "lps",
        "sync",
        "engine",
    }


def test_failure_on_rank_1_ends_the_job_quickly_naming_rank_and_lp():
    """Rank 1 says it is reporting, prints its traceback and aborts once the launcher has read it; rank 0, which
    only got a RemoteError, prints nothing and, having heard rank 1 is reporting, waits for that abort however long
    it takes (it used to abort after a fixed grace, racing rank 1's output)."""
    proc, elapsed = run(["tests/pdes/scripts/fail_on_rank1.py"], ranks=2, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert elapsed < 15
    assert "[rank 1] uncaught exception, ending the MPI job" in output
    assert "LP 'c' on rank 1" in output
    assert output.count("ZeroDivisionError: division by zero") == 1
    assert output.count("Traceback (most recent call last)") == 1
    assert "unreachable" not in output
    assert "[rank 0]" not in output


def test_a_failing_rank_slower_to_print_than_the_wait_still_prints_before_the_job_ends():
    """The ordering does not depend on timing: rank 1 takes WAIT_S + 2 s to format its traceback, longer than rank 0
    waits to hear that rank 1 is reporting; rank 0 heard, so it waits for the report instead of aborting first."""
    proc, elapsed = run(["tests/pdes/scripts/slow_report_on_rank1.py"], ranks=2, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "[rank 1] uncaught exception, ending the MPI job" in output, output
    assert output.count("SlowToPrint: slow to print") == 1, output
    assert "[rank 0]" not in output, output
    assert WAIT_S + 2 < elapsed < 30


def test_phold_cli_rejects_bad_arguments():
    proc, _ = run([*PHOLD, "--lookahead", "0"])
    assert proc.returncode == 2
    assert proc.stderr == "python -m pdes.phold: error: argument --lookahead: must be a finite number > 0, got '0'\n"


@pytest.mark.parametrize(
    "bad",
    [
        ["--until", "nan"],
        ["--ranks", "0"],
        ["--stats-json", "/nonexistent/x.json"],
        ["--lookahead", "1e-17", "--until", "1"],
    ],
)
def test_phold_cli_bad_argument_is_reported_once_per_mpirun_job(bad):
    proc, _ = run([*PHOLD, *bad], ranks=3, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"python -m pdes.phold: error: argument {bad[0]}: "), proc.stderr
