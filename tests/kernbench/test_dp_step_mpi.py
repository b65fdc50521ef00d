"""dp_step under pytest-mpi: the MPI run's JSON equals one process's and 16 virtual ranks' (wall-clock and rank
fields aside). Run with ``mpirun -n N python -m pytest --with-mpi -m mpi`` (./scripts/test does, N = 2 and 4)."""

import json
import os
import subprocess
import sys

import pytest

from kernbench.cli.main import main
from pdes.transport import LAUNCHER_VARS
from tests.kernbench.helpers import DP_STEP_SMALL, REPO_ROOT
from tests.kernbench.test_run_mpi import without_rank_and_wall

pytestmark = pytest.mark.mpi(min_size=2)

STEP = ["run", "--topology", str(REPO_ROOT / "topology.yaml"), "--sips", "16", "--json"]
STEP += ["--bench", "dp_step", *DP_STEP_SMALL]


def outside_mpi(*extra: str) -> dict:
    """The same command in a child process that no launcher started (so --ranks may run virtual ranks)."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    proc = subprocess.run(
        [sys.executable, "-m", "kernbench.cli.main", *STEP, *extra],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_one_step_is_the_same_on_mpi_one_process_and_16_virtual_ranks(capsys):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    assert main(STEP) == 0  # the MPI transport: this job's ranks share the 16 SIPs; rank 0 prints
    if comm.rank != 0:
        return
    mpi = json.loads(capsys.readouterr().out)
    one, virtual = outside_mpi(), outside_mpi("--ranks", "16")
    assert one["status"] == "PASS"
    assert (mpi["ranks"], one["ranks"], virtual["ranks"]) == (comm.size, 1, 16)
    assert sorted({r["rank"] for r in mpi["results"]}) == list(range(comm.size))
    assert without_rank_and_wall(mpi) == without_rank_and_wall(one) == without_rank_and_wall(virtual)
