"""torch.distributed with other ccl.yaml entries: world_size, multi-PE layouts, validators, mismatched calls."""

from dataclasses import replace

import numpy as np
import pytest

from kernbench.ccl import load_ccl_config
from kernbench.engine import Engine, IpcqDeadlock
from kernbench.runtime import DPPolicy, RuntimeContext
from tests.kernbench.helpers import with_sips

from .workloads import ONE_PE, values


def context(topo, algorithm: str, **fields) -> RuntimeContext:
    ccl = load_ccl_config().with_algorithm(algorithm)
    ccl.algorithms[algorithm] = replace(ccl.selected(), **fields)
    return RuntimeContext(Engine(topo), ccl)


def test_world_size_from_ccl_yaml_uses_the_first_sips(topo):
    torch = context(with_sips(topo, 4), "tree_allreduce", world_size=3)
    seen = {}

    def fn(rank):
        dist = torch.distributed
        if rank == 3:
            with pytest.raises(
                ValueError,
                match="sip3 is not a rank: ccl.yaml algorithm 'tree_allreduce' has "
                r"world_size 3 \(SIPs 0..2\)",
            ):
                dist.init_process_group()
            return None
        dist.init_process_group()
        t = torch.zeros((300,), "f32", dp=ONE_PE)
        t.copy_(values(rank, 300))
        dist.all_reduce(t)
        seen[rank] = (dist.get_world_size(), t.numpy())
        dist.destroy_process_group()
        return rank

    torch.multiprocessing.spawn(fn, nprocs=4)
    want = sum(values(r, 300) for r in range(3))
    assert sorted(seen) == [0, 1, 2]
    for world, got in seen.values():
        assert world == 3
        np.testing.assert_array_equal(got, want)


def test_a_sharded_tensor_is_reduced_lane_by_lane_with_all_pes(topo):
    """ring_allreduce_all_pes: shard k of every rank is summed with shard k of the others (torch semantics)."""
    torch = context(topo, "ring_allreduce_all_pes")
    n_pes = topo.cubes_per_sip * topo.pes_per_cube
    dp = DPPolicy(cube="column_wise", pe="column_wise")

    def fn(rank):
        dist = torch.distributed
        dist.init_process_group()
        t = torch.zeros((4, n_pes * 256), "f32", dp=dp)
        t.copy_(np.arange(t.shape[0] * t.shape[1], dtype=np.float32).reshape(t.shape) % 251 + rank)
        dist.all_reduce(t, op="max")
        out = t.numpy()
        dist.destroy_process_group()
        return out

    torch.multiprocessing.spawn(fn)
    base = np.arange(4 * n_pes * 256, dtype=np.float32).reshape(4, -1) % 251
    for out in torch.multiprocessing.results.values():
        np.testing.assert_array_equal(out, base + 1)


def test_a_layout_the_algorithm_cannot_use_is_refused_by_its_validator(topo):
    torch = context(topo, "hierarchical_allreduce")
    seen = []

    def fn(_rank):
        dist = torch.distributed
        dist.init_process_group()
        try:
            dist.all_reduce(torch.zeros((64,), "f32", dp=ONE_PE, name="g"))
        except ValueError as exc:
            seen.append(str(exc))
        dist.destroy_process_group()

    torch.multiprocessing.spawn(fn, nprocs=1)
    assert seen == [
        "all_reduce: g does not fit ccl algorithm 'hierarchical_allreduce' (validator multi_pe_sip_local):"
        " expected one shard on each of the 128 participating PEs of the SIP, got 1 shard(s) on "
        "(cube, pe) [(0, 0)]"
    ]


def test_a_rank_that_skips_the_collective_is_an_ipcq_deadlock(topo):
    """Rank 1 never calls all_reduce: rank 0's kernel waits on its ring for ever; the run ends with a dump."""
    torch = context(topo, "ring_allreduce_tcm")

    def fn(rank):
        dist = torch.distributed
        dist.init_process_group()
        if rank == 0:
            dist.all_reduce(torch.zeros((64,), "f32", dp=ONE_PE))

    with pytest.raises(IpcqDeadlock) as info:
        torch.multiprocessing.spawn(fn)
    assert "sip0.cube0.pe0 W: waits for data #0 from sip1.cube0.pe0" in str(info.value)
