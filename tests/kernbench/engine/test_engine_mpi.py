"""The engine under mpirun, compared for equality with the single-process run.

Run with: mpirun -n N python -m pytest --with-mpi -m mpi tests/kernbench/engine  (N >= 2)
"""

import numpy as np
import pytest

from kernbench.engine import MemoryReadMsg, MemoryWriteMsg, PeDmaMsg
from kernbench.topology import PhysAddr
from tests.kernbench.helpers import with_sips

from .conftest import run_hosts
from .workload import hosts

pytestmark = pytest.mark.mpi(min_size=2)


def world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def gathered(local: dict) -> dict:
    """Merge what each rank's host code saw (it only ran for the SIPs that rank owns)."""
    merged = {}
    for part in world().allgather(local):
        merged.update(part)
    return merged


def cross_sip_dma(read_back: dict) -> dict:
    """sip0's PE DMAs a block from its TCM to sip1's HBM; sip1's host then reads it back to the host."""
    data = np.random.default_rng(3).integers(0, 256, 1 << 16, dtype=np.uint8)

    def sip0(eng, _sip):
        eng.wait(eng.submit(MemoryWriteMsg(PhysAddr.tcm(0, 0, 0, 0), data=data)))
        read_back["latency"] = eng.wait(
            eng.submit(PeDmaMsg(0, 0, 0, PhysAddr.tcm(0, 0, 0, 0), PhysAddr.hbm(1, 7, 4096), data.size))
        ).latency_ns

    def sip1(eng, _sip):
        eng.sleep_until(50_000.0)
        read_back["data"] = eng.wait(eng.submit(MemoryReadMsg(PhysAddr.hbm(1, 7, 4096), data.size))).data

    return {0: sip0, 1: sip1}


def test_cross_sip_pe_dma_latency_and_data_equal_single_process(topo):
    single = {}
    _, single_result = run_hosts(topo, cross_sip_dma(single), transport="local")
    mine = {}
    _, result = run_hosts(topo, cross_sip_dma(mine), transport="mpi")
    split = gathered(mine)
    assert result.stats["totals"]["ranks"] == world().Get_size()
    assert split["latency"] == single["latency"] > topo.system.inter_sip_link.latency_ns
    np.testing.assert_array_equal(split["data"], single["data"])
    assert result.results == single_result.results


@pytest.mark.parametrize("count", [2, 4])
@pytest.mark.parametrize("partition", ["blocks", "round_robin"])
def test_ring_workload_equals_single_process(topo, count, partition):
    system = with_sips(topo, count)
    single = {}
    _, single_result = run_hosts(system, hosts(system, single), transport="local")
    mine = {}
    _, result = run_hosts(system, hosts(system, mine), transport="mpi", partition=partition)
    split = gathered(mine)
    assert result.results == single_result.results
    assert sorted(split) == list(range(count))
    for sip in range(count):
        np.testing.assert_array_equal(split[sip], single[sip])
