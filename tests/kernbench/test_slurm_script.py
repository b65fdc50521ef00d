"""``scripts/slurm/kernbench.sbatch`` with a fake ``srun`` on PATH (``mpirun -n $SLURM_NTASKS``, or the command
itself for one task): the job writes ``kernbench-$SLURM_JOB_ID.json``, one parseable ``kernbench run --json``
line, in the submit directory, and exits with kernbench's code."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pdes.transport import LAUNCHER_VARS
from tests.pdes.test_mpi_jobs import MPIRUN

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "scripts" / "slurm" / "kernbench.sbatch"

FAKE_SRUN = """#!/usr/bin/env bash
# Fake srun: drop srun's own options, then run the command on $SLURM_NTASKS ranks.
while [ $# -gt 0 ]; do case "$1" in --*) shift ;; *) break ;; esac; done
if [ "${SLURM_NTASKS:-1}" = 1 ]; then exec "$@"; fi
exec "$FAKE_MPIRUN" -n "$SLURM_NTASKS" "$@"
"""


def submit(tmp_path: Path, ntasks: int, *args: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        KERNBENCH_VENV=sys.prefix,
        FAKE_MPIRUN=str(MPIRUN or "mpirun"),
        SLURM_SUBMIT_DIR=str(tmp_path),
        SLURM_JOB_ID="4242",
        SLURM_NTASKS=str(ntasks),
        MPIEXEC_TIMEOUT="90",
    )
    return subprocess.run(
        ["bash", str(SBATCH), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "ntasks",
    [
        1,
        pytest.param(
            2, marks=pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
        ),
    ],
)
def test_job_writes_the_json_result_named_after_the_job(tmp_path, ntasks):
    proc = submit(tmp_path, ntasks, "--bench", "ccl_allreduce", "--topology", str(ROOT / "topology.yaml"))
    assert proc.returncode == 0, proc.stderr
    line = json.loads((tmp_path / "kernbench-4242.json").read_text())
    assert (line["bench"], line["status"], line["ranks"], line["sips"]) == ("ccl_allreduce", "PASS", ntasks, [0, 1])
    assert "result in kernbench-4242.json" in proc.stderr
    stats = tmp_path / "kernbench-4242-stats.json"
    if (
        "--stats-json"
        in subprocess.run(
            [sys.executable, "-m", "kernbench.cli.main", "run", "--help"], capture_output=True, text=True, cwd=ROOT
        ).stdout
    ):
        json.loads(stats.read_text())
    else:
        assert not stats.exists()


def test_failing_job_keeps_kernbenchs_exit_code_and_its_json_line(tmp_path):
    (tmp_path / "failing.py").write_text('"""Fails."""\n\ndef run(torch):\n    raise ValueError("no luck")\n')
    proc = submit(
        tmp_path, 1, "--bench", "failing", "--benches-dir", str(tmp_path), "--topology", str(ROOT / "topology.yaml")
    )
    assert proc.returncode == 1, proc.stderr
    line = json.loads((tmp_path / "kernbench-4242.json").read_text())
    assert line["status"] == "FAIL"
    assert "ValueError: no luck" in line["error"]
