"""torch.distributed under mpirun (rank = SIP across processes), compared with the single-process run.

Run with: mpirun -n N python -m pytest --with-mpi -m mpi tests/kernbench/distributed  (N >= 2)
"""

import numpy as np
import pytest

from kernbench.engine import Engine, IpcqDeadlock
from kernbench.runtime import RuntimeContext
from kernbench.runtime.multiprocessing import SpawnException
from kernbench.runtime.worker_errors import RemoteWorkerError
from tests.kernbench.helpers import with_sips

from .workloads import ONE_PE, spawn_allreduce, spawn_collectives

pytestmark = pytest.mark.mpi(min_size=2)


@pytest.mark.parametrize(("sips", "layout"), [(2, "ring_1d"), (4, "ring_1d"), (4, "mesh_2d_no_wrap")])
@pytest.mark.parametrize("partition", ["blocks", "round_robin"])
def test_all_reduce_equals_single_process(topo, sips, layout, partition):
    split = spawn_allreduce(with_sips(topo, sips, layout), n=5000, transport="mpi", partition=partition)
    single = spawn_allreduce(with_sips(topo, sips, layout), n=5000, transport="local")
    assert sorted(split) == sorted(single) == list(range(sips))
    for rank in range(sips):
        np.testing.assert_array_equal(split[rank]["result"], single[rank]["result"])
        assert split[rank]["ns"] == single[rank]["ns"]


def test_spawn_exception_is_raised_on_every_process(topo):
    engine = Engine(with_sips(topo, 2), transport="mpi")
    torch = RuntimeContext(engine)

    def fn(rank):
        if rank == 1:
            raise KeyError("missing weight")

    with pytest.raises(SpawnException) as info:
        torch.multiprocessing.spawn(fn)
    error = info.value.errors[1]
    assert list(info.value.errors) == [1]
    assert isinstance(error, KeyError)
    assert str(error) == "'missing weight'"
    assert str(info.value).startswith("rank 1 failed: KeyError: 'missing weight' (at test_distributed_mpi.py:")
    assert info.value.reported_by == engine.rank_of(1)  # the MPI rank that simulates SIP 1 prints it
    if not engine.is_local(1):  # re-created from SIP 1's summary: its type name, message and traceback
        assert type(error).__name__ == "KeyError"
        assert isinstance(error, RemoteWorkerError)
        assert "raise KeyError" in error.summary.traceback


@pytest.mark.parametrize("sips", [2, 4])
def test_other_collectives_equal_single_process(topo, sips):
    split = spawn_collectives(with_sips(topo, sips), transport="mpi", partition="round_robin")
    single = spawn_collectives(with_sips(topo, sips), transport="local")
    assert sorted(split) == sorted(single) == list(range(sips))
    for rank in range(sips):
        for key in ("broadcast", "gathered", "rs_sum", "rs_max", "allreduce"):
            np.testing.assert_array_equal(split[rank][key], single[rank][key])


def deadlocked_dump(topo, **engine_kwargs) -> str:
    """Rank 1 skips the all-reduce that rank 0 starts: the IpcqDeadlock message (its queue dump)."""
    torch = RuntimeContext(Engine(with_sips(topo, 2), **engine_kwargs))

    def fn(rank):
        torch.distributed.init_process_group()
        if rank == 0:
            torch.distributed.all_reduce(torch.zeros((64,), "f32", dp=ONE_PE))

    with pytest.raises(IpcqDeadlock) as info:
        torch.multiprocessing.spawn(fn)
    return str(info.value).split("\nsimulation deadlock")[0]  # the pdes part names ranks, which differ


def test_ipcq_deadlock_is_raised_on_every_process_with_the_same_dump(topo):
    split = deadlocked_dump(topo, transport="mpi")
    assert split == deadlocked_dump(topo, transport="local")
    assert "sip0.cube0.pe0 W: waits for data #0 from sip1.cube0.pe0" in split
