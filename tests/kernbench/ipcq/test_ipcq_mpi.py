"""IPCQ traffic across MPI ranks, compared for equality with the single-process run.

Run with: mpirun -n N python -m pytest --with-mpi -m mpi tests/kernbench/ipcq  (N >= 2)
"""

import numpy as np
import pytest

from tests.kernbench.helpers import with_sips

from .test_ipcq import exchange, pass_along_allreduce, run_ring

pytestmark = pytest.mark.mpi(min_size=2)


def same(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name]["out"], b[name]["out"])
        assert (a[name]["end"], a[name]["exec"]) == (b[name]["end"], b[name]["exec"])


def test_two_rank_exchange_equals_single_process(topo):
    same(run_ring(topo, exchange, transport="mpi"), run_ring(topo, exchange, transport="local"))


@pytest.mark.parametrize("count", [2, 4])
def test_ring_allreduce_equals_single_process(topo, count):
    ring = with_sips(topo, count)
    split = run_ring(ring, pass_along_allreduce(count), count=count, transport="mpi", partition="round_robin")
    single = run_ring(ring, pass_along_allreduce(count), count=count, transport="local")
    same(split, single)
    assert all(split[f"sip{s}"]["out"][:8].tolist() == [count * (count + 1) / 2] * 8 for s in range(count))
