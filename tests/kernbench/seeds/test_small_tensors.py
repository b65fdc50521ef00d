"""Tensors whose per-cube block is smaller than a page, as the seeds place them (issue 13 point 2, ADR 0010).

Each test names the seed it comes from. Before sub-page mappings these raised AllocationError ("does not start on
a 4096-byte page").
"""

import numpy as np

from kernbench.ccl import load_ccl_config
from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext

from ..kernels.conftest import on_sip

N_CUBES = 16
N_ELEM = 8


def _spawn(topo, fn, algorithm=None):
    ccl = load_ccl_config()
    torch = RuntimeContext(Engine(topo), ccl.with_algorithm(algorithm) if algorithm else ccl)
    torch.multiprocessing.spawn(fn, args=(torch,), nprocs=topo.sip_count)
    return torch.multiprocessing.results


def test_distributed_intercube_allreduce(topo):
    """Seed 000 ``tests/test_distributed_intercube.py::test_distributed_intercube_allreduce``: a (16, 8) f16 tensor
    row-wise over the 16 cubes (16 bytes per cube), all-reduced with intercube_allreduce."""
    n_sips = topo.sip_count

    def worker(rank, torch):
        torch.ahbm.set_device(rank)
        torch.distributed.init_process_group(backend="ahbm")
        dp = DPPolicy(cube="row_wise", pe="replicate", num_pes=1, num_cubes=N_CUBES)
        tensor = torch.zeros((N_CUBES, N_ELEM), dtype="f16", dp=dp, name=f"sip{rank}")
        init_arr = np.full((N_CUBES, N_ELEM), float(rank + 1), dtype=np.float16)
        tensor.copy_(torch.from_numpy(init_arr))
        torch.distributed.all_reduce(tensor, op="sum")
        return tensor.numpy()

    results = _spawn(topo, worker, "intercube_allreduce")
    expected = float(N_CUBES * sum(range(1, n_sips + 1)))
    for rank, arr in results.items():
        for cube_id in range(N_CUBES):
            assert np.allclose(arr[cube_id], expected, rtol=1e-1, atol=1e-1), f"SIP{rank} cube {cube_id}"


def test_small_tensor_over_two_cubes_round_trips_and_kernels_find_each_block(topo):
    """Seed 000 ``test_distributed_intercube`` layout over 2 cubes: (16, 8) f16, 128 bytes per cube. ``copy_`` /
    ``numpy`` round-trip and a kernel on each cube's PE 0 reads its block at ``t_ptr + cube * nbytes``."""
    values = np.arange(16 * 8, dtype=np.float16).reshape(16, 8)

    def kernel(t_ptr, n_elem, tl):
        cube_id = tl.program_id(axis=1)
        nbytes = n_elem * 2
        pe_addr = t_ptr + cube_id * nbytes
        tl.store(pe_addr, tl.load(pe_addr, shape=(n_elem,), dtype="f16") * 2.0)

    def body(torch):
        t = torch.zeros((16, 8), "f16", dp=DPPolicy(cube="row_wise", pe="replicate", num_cubes=2, num_pes=1))
        t.copy_(torch.from_numpy(values))
        before = t.numpy()
        torch.launch("double", kernel, t, 64)
        return {"before": before, "after": t.numpy(), "cubes": [a.cube for a in t.shard_addrs]}

    got, _ = on_sip(topo, body)
    np.testing.assert_array_equal(got["before"], values)
    np.testing.assert_array_equal(got["after"], values * 2)
    assert got["cubes"] == [0, 1]


def test_sip_parallel_via_launcher(topo):
    """Seed 000 ADR-0026 T3 ``test_sip_parallel_via_launcher``: after ``set_device(rank)`` a (1, 128) f16 tensor
    column-wise over every cube and PE (2 bytes per PE) lands on the rank's SIP, and round-trips."""

    def worker(rank, torch):
        torch.ahbm.set_device(rank)
        t = torch.zeros((1, 128), dtype="f16", dp=DPPolicy(cube="column_wise", pe="column_wise"))
        t.copy_(np.arange(128, dtype=np.float16).reshape(1, 128) + rank)
        return {"sips": sorted({s.sip for s in t.shards}), "n": len(t.shards), "data": t.numpy()}

    results = _spawn(topo, worker)
    for rank, got in results.items():
        assert got["sips"] == [rank]
        assert got["n"] == 128
        np.testing.assert_array_equal(got["data"][0], np.arange(128) + rank)


def test_hierarchical_allreduce_with_128_f16_per_pe(topo):
    """Seed 000 ADR-0029 D2 / D7: ``n_elem: 128`` f16 on every PE (256 bytes per PE, 2 KiB per cube), laid out
    ``DPPolicy(cube="column_wise", pe="column_wise")`` and all-reduced with hierarchical_allreduce."""
    pes = topo.cubes_per_sip * topo.pes_per_cube
    n_elem = 128

    def worker(_rank, torch):
        dist = torch.distributed
        dist.init_process_group("ahbm")
        tensor = torch.zeros((1, pes * n_elem), "f16", dp=DPPolicy(cube="column_wise", pe="column_wise"), name="in")
        tensor.copy_(np.full((1, pes * n_elem), 1.0, np.float16))
        dist.all_reduce(tensor, op="sum")
        return tensor.numpy()

    results = _spawn(topo, worker, "hierarchical_allreduce")
    for arr in results.values():  # hierarchical sums every PE of every rank
        np.testing.assert_array_equal(arr, np.full((1, pes * n_elem), pes * topo.sip_count, np.float16))


def test_small_tcm_shards_live_in_each_pes_tcm(topo):
    """Seed 000 ``deploy_tensor(mem_kind="tcm")`` puts each shard in its own PE's TCM whatever its size: 64-byte
    column shards over 8 PEs round-trip, and each PE's kernel reads its own shard at ``t_ptr + pe * nbytes``."""
    values = np.arange(4 * 64, dtype=np.float16).reshape(4, 64)

    def kernel(t_ptr, n_elem, tl):
        pe = tl.program_id(axis=0)
        addr = t_ptr + pe * n_elem * 2
        tl.store(addr, tl.load(addr, shape=(n_elem,), dtype="f16") + 1.0)

    def body(torch):
        t = torch.empty((4, 64), "f16", dp=DPPolicy(pe="column_wise", num_cubes=1), memory="tcm")
        t.copy_(values)
        torch.launch("inc", kernel, t, 32)
        return t.numpy(), [(a.unit.name, a.pe) for a in t.shard_addrs]

    (data, where), _ = on_sip(topo, body)
    np.testing.assert_array_equal(data, values + 1)
    assert where == [["PE_TCM", p] for p in range(8)]
