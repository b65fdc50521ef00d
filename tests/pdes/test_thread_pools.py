"""Numerical thread pools get one thread per process, unless the user chose, before numpy loads."""

import os
import subprocess
import sys

import pytest

from pdes.thread_pools import POOL_VARIABLES, configure


def test_every_pool_gets_one_thread_unless_the_user_chose():
    assert configure({}) == dict.fromkeys(POOL_VARIABLES, "1")
    environ = {"MPI_LOCALNRANKS": "2", "OMP_NUM_THREADS": "3"}
    assert configure(environ) == {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert environ["OMP_NUM_THREADS"] == "3"


WATCH_NUMPY = """
import os, sys
class Watch:
    seen = None
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and Watch.seen is None:
            Watch.seen = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
        return None
sys.meta_path.insert(0, Watch())
import kernbench.cli.main
print(Watch.seen)
"""


def test_importing_kernbench_sizes_the_pools_before_numpy_loads():
    """What numpy's OpenBLAS reads when it loads: the variable must be set by then (a fresh interpreter that
    looks as if two ranks of a job share this node records the variable as numpy starts to load)."""
    env = {k: v for k, v in os.environ.items() if k not in POOL_VARIABLES} | {
        "MPI_LOCALNRANKS": "2",
        "PDES_NO_ABORT_HOOK": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", WATCH_NUMPY], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "1"


@pytest.mark.mpi(min_size=2)
def test_under_mpirun_every_rank_has_its_share():
    from mpi4py import MPI

    assert MPI.COMM_WORLD.Get_size() >= 2
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
