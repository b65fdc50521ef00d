"""Numerical thread pools get an MPI rank's share of the node's cores, and are left alone without a launcher."""

import os
import subprocess
import sys

import pytest

from pdes.thread_pools import POOL_VARIABLES, configure


def test_each_rank_gets_its_share_of_the_cores():
    environ = {"MPI_LOCALNRANKS": "2"}
    assert configure(environ, cores=16) == dict.fromkeys(POOL_VARIABLES, "8")
    assert configure({"MPI_LOCALNRANKS": "4"}, cores=2) == dict.fromkeys(POOL_VARIABLES, "1")  # at least one


def test_without_a_launcher_and_with_the_users_choice_nothing_changes():
    assert configure({}, cores=16) == {}
    environ = {"MPI_LOCALNRANKS": "2", "OMP_NUM_THREADS": "3"}
    assert configure(environ, cores=16) == {"OPENBLAS_NUM_THREADS": "8", "MKL_NUM_THREADS": "8"}
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
    assert out.stdout.strip() == str(max(1, len(os.sched_getaffinity(0)) // 2))


@pytest.mark.mpi(min_size=2)
def test_under_mpirun_every_rank_has_its_share():
    from mpi4py import MPI

    assert os.environ["OPENBLAS_NUM_THREADS"] == str(max(1, len(os.sched_getaffinity(0)) // MPI.COMM_WORLD.Get_size()))
