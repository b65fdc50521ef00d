"""torch.distributed under mpirun (rank = SIP across processes), compared with the single-process run.

Run with: mpirun -n N python -m pytest --with-mpi -m mpi tests/kernbench/distributed  (N >= 2)
"""

import numpy as np
import pytest

from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.runtime.multiprocessing import SpawnException

from .workloads import spawn_allreduce, spawn_collectives, system

pytestmark = pytest.mark.mpi(min_size=2)


@pytest.mark.parametrize("sips,layout", [(2, "ring_1d"), (4, "ring_1d"), (4, "mesh_2d_no_wrap")])
@pytest.mark.parametrize("partition", ["blocks", "round_robin"])
def test_all_reduce_equals_single_process(topo, sips, layout, partition):
    split = spawn_allreduce(system(topo, sips, layout), n=5000, transport="mpi", partition=partition)
    single = spawn_allreduce(system(topo, sips, layout), n=5000, transport="local")
    assert sorted(split) == sorted(single) == list(range(sips))
    for rank in range(sips):
        np.testing.assert_array_equal(split[rank]["result"], single[rank]["result"])
        assert split[rank]["ns"] == single[rank]["ns"]


def test_spawn_exception_is_raised_on_every_process(topo):
    engine = Engine(system(topo, 2), transport="mpi")
    torch = RuntimeContext(engine)

    def fn(rank):
        if rank == 1:
            raise KeyError("missing weight")

    with pytest.raises(SpawnException) as info:
        torch.multiprocessing.spawn(fn)
    assert info.value.errors == {1: "KeyError: 'missing weight'"}


@pytest.mark.parametrize("sips", [2, 4])
def test_other_collectives_equal_single_process(topo, sips):
    split = spawn_collectives(system(topo, sips), transport="mpi", partition="round_robin")
    single = spawn_collectives(system(topo, sips), transport="local")
    assert sorted(split) == sorted(single) == list(range(sips))
    for rank in range(sips):
        for key in ("broadcast", "gathered", "rs_sum", "rs_max", "allreduce"):
            np.testing.assert_array_equal(split[rank][key], single[rank][key])
