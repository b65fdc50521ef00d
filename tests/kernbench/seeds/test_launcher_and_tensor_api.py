"""The seeds' launcher and tensor API (issue 13 point 5): single-driver rank, ``Tensor.data`` / ``to()``, the TP
region mappings, ``launch``'s global -> cube-local dimensions, and the seeds' error types. Each test names its seed.
"""

import numpy as np
import pytest

from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.tp import initialize_model_parallel
from kernbench.tp.layers import ON_LEADER
from kernbench.tp.primitives import (
    copy_to_tp_region,
    gather_from_tp_region,
    reduce_from_tp_region,
    scatter_to_tp_region,
)

from ..kernels.conftest import on_sip


def test_single_driver_rank_is_zero_and_workers_join_the_drivers_group(topo):
    """Seed 000 ADR-0024 D9 (``get_rank`` outside a bound greenlet returns 0) and ``tests/
    test_distributed_intercube.py``'s flow: ``init_process_group`` and ``get_world_size`` at the top level, then
    ``spawn`` workers that all-reduce without calling ``init_process_group`` themselves."""
    torch = RuntimeContext(Engine(topo))
    with pytest.raises(RuntimeError, match=r"get_rank: call torch.distributed.init_process_group\(\) first"):
        torch.distributed.get_rank()
    assert not torch.distributed.is_initialized()
    torch.distributed.init_process_group(backend="ahbm")
    assert torch.distributed.is_initialized()
    assert torch.distributed.get_rank() == 0
    assert torch.distributed.get_world_size() == topo.sip_count

    def worker(rank, _n_sips, torch):
        torch.ahbm.set_device(rank)
        t = torch.zeros((1, 8), "f16", dp=ON_LEADER)
        t.copy_(torch.from_numpy(np.full((1, 8), float(rank + 1), np.float16)))
        torch.distributed.all_reduce(t, op="sum")
        return torch.distributed.get_rank(), t.numpy()

    torch.multiprocessing.spawn(worker, args=(topo.sip_count, torch), nprocs=topo.sip_count)
    for rank, (got_rank, values) in torch.multiprocessing.results.items():
        assert got_rank == rank
        np.testing.assert_array_equal(values, np.full((1, 8), sum(range(1, topo.sip_count + 1)), np.float16))
    torch.distributed.destroy_process_group()
    assert not torch.distributed.is_initialized()


def test_tensor_data_and_to(topo):
    """Seed 004 (``Tensor.data`` returns the values) and seed 000 ``Tensor.to`` (placement, like torch's)."""

    def body(torch):
        t = torch.zeros((4, 64), "f16", dp=DPPolicy(pe="column_wise", num_cubes=1))
        t.copy_(np.arange(256, dtype=np.float16).reshape(4, 64))
        wide = t.to("f32")
        moved = t.to(DPPolicy(cube="row_wise", pe="replicate", num_cubes=2, num_pes=1))
        host = t.to("cpu")
        back = torch.from_numpy(np.ones((2, 2), np.float32)).to(torch.current_device())
        same = t.to("ahbm:0") is t and t.to(dp_policy=t.dp) is t
        with pytest.raises(RuntimeError, match="moves to its own worker's SIP only"):
            t.to("sip1")
        return {
            "data": t.data,
            "wide": (wide.dtype, wide.numpy()),
            "moved": (len(moved.shards), moved.numpy()),
            "host": (host.is_host, host.numpy()),
            "back": (back.is_host, back.numpy()),
            "same": same,
        }

    got, _ = on_sip(topo, body)
    values = np.arange(256, dtype=np.float16).reshape(4, 64)
    np.testing.assert_array_equal(got["data"], values)
    assert got["wide"][0] == "f32"
    assert got["wide"][1].dtype == np.float32
    np.testing.assert_array_equal(got["wide"][1], values.astype(np.float32))
    assert got["moved"][0] == 2
    np.testing.assert_array_equal(got["moved"][1], values)
    assert got["host"][0]
    assert not got["back"][0]
    assert got["same"]
    np.testing.assert_array_equal(got["host"][1], values)
    np.testing.assert_array_equal(got["back"][1], np.ones((2, 2), np.float32))


def _tp_worker(rank, torch):
    dist = torch.distributed
    dist.init_process_group("ahbm")
    world = dist.get_world_size()
    initialize_model_parallel(world, torch)
    x = torch.zeros((4, 8), "f16", dp=ON_LEADER)
    x.copy_(np.arange(32, dtype=np.float16).reshape(4, 8) + rank)
    same = copy_to_tp_region(x) is x
    part = scatter_to_tp_region(x)
    full = gather_from_tp_region(part)
    total = reduce_from_tp_region(x, torch)
    return {"same": same, "part": part.numpy(), "full": full.numpy(), "total": total.numpy(), "world": world}


def test_tp_mappings_numerics(topo):
    """Seed 000 ``kernbench/tp/primitives.py`` (ADR-0027 D6): copy is the identity, reduce sums over the ranks;
    scatter / gather, deferred in the seeds for want of an all-gather, split and re-join the last dimension."""
    torch = RuntimeContext(Engine(topo))
    torch.multiprocessing.spawn(_tp_worker, args=(torch,), nprocs=topo.sip_count)
    results = torch.multiprocessing.results
    world = topo.sip_count
    width = 8 // world
    for rank, got in results.items():
        x = np.arange(32, dtype=np.float16).reshape(4, 8) + rank
        assert got["same"]
        assert got["world"] == world
        np.testing.assert_array_equal(got["part"], x[:, rank * width : (rank + 1) * width])
        # gather joins every rank's part: rank r's columns of rank r's x
        want = np.hstack(
            [(np.arange(32, dtype=np.float16).reshape(4, 8) + r)[:, r * width : (r + 1) * width] for r in range(world)]
        )
        np.testing.assert_array_equal(got["full"], want)
        np.testing.assert_array_equal(
            got["total"], sum(np.arange(32, dtype=np.float16).reshape(4, 8) + r for r in range(world))
        )


def test_launch_passes_cube_local_dimensions(topo):
    """Seed 001 ``RuntimeContext.launch`` ``dim_map``: an int argument equal to a dimension a tensor splits over
    cubes reaches the kernel as the cube-local size; unsplit or ambiguous values pass unchanged."""

    def kernel(y_ptr, m, n, other, tl):
        cube = tl.program_id(axis=1)
        if tl.program_id(axis=0) == 0:
            tl.store(y_ptr + cube * m * n * 4, tl.zeros((m, n), "f32") + float(n * 1000 + other), "f32")

    def body(torch):
        y = torch.zeros((8, 64), "f32", dp=DPPolicy(cube="column_wise", pe="replicate", num_cubes=2, num_pes=1))
        torch.launch("local", kernel, y, 8, 64, 64 + 1)
        local = y.numpy()
        y2 = torch.zeros((8, 64), "f32", dp=DPPolicy(cube="column_wise", pe="replicate", num_cubes=2, num_pes=1))
        torch.launch("global", kernel, y2, 8, 32, 7, local_dims=False)
        return local, y2.numpy()

    (local, explicit), _ = on_sip(topo, body)
    np.testing.assert_array_equal(local, np.full((8, 64), 32 * 1000 + 65, np.float32))
    np.testing.assert_array_equal(explicit, np.full((8, 64), 32 * 1000 + 7, np.float32))


def test_copy_shape_mismatch_raises(topo):
    """Seed 000 ``tests/test_runtime_api_tensor.py::test_copy_shape_mismatch_raises``."""

    def body(torch):
        dp = DPPolicy(cube="replicate", pe="replicate", num_cubes=1, num_pes=1)
        t = torch.zeros((1, 8), dtype="f16", dp=dp, name="t")
        src = np.zeros((1, 16), dtype=np.float16)
        with pytest.raises(ValueError, match="copy_ shape mismatch"):
            t.copy_(torch.from_numpy(src))
        return True

    assert on_sip(topo, body)[0]


def test_setitem_cross_shard_raises(topo):
    """Seed 000 ``tests/test_runtime_api_tensor.py::test_setitem_cross_shard_raises`` (also an IndexError here)."""

    def body(torch):
        n_pe = 4
        n_elem = 4
        dp = DPPolicy(cube="replicate", pe="column_wise", num_cubes=1, num_pes=n_pe)
        t = torch.zeros((1, n_pe * n_elem), dtype="f16", dp=dp, name="t")
        with pytest.raises(NotImplementedError, match="spans multiple shards"):
            t[0, 2:6] = 1.0  # crosses shard 0 (0:4) and shard 1 (4:8)
        with pytest.raises(IndexError, match="spans multiple shards"):
            t[0, 2:6]
        return True

    assert on_sip(topo, body)[0]


def test_copy_and_numpy_multi_cube(topo):
    """Seed 000 ``tests/test_runtime_api_tensor.py::test_copy_and_numpy_multi_cube``: (1, 64) f16 column-wise
    over 2 cubes x 8 PEs (8 bytes per PE, 64 per cube), plus shard-aligned ``__setitem__`` / ``__getitem__``."""

    def body(torch):
        n_pe_per_cube = 8
        n_cubes = 2
        total = n_cubes * n_pe_per_cube  # 16
        dp = DPPolicy(cube="column_wise", pe="column_wise", num_cubes=n_cubes)
        t = torch.zeros((1, total * 4), dtype="f16", dp=dp, name="t")
        src = np.arange(total * 4, dtype=np.float16).reshape(1, total * 4)
        t.copy_(torch.from_numpy(src))
        out = t.numpy()
        for r in range(total):
            t[0, r * 4 : (r + 1) * 4] = float(r)
        return src, out, t.numpy(), t[0, 60:64]

    (src, out, ranks, last), _ = on_sip(topo, body)
    np.testing.assert_array_equal(out, src)
    np.testing.assert_array_equal(ranks[0], np.repeat(np.arange(16), 4).astype(np.float16))
    np.testing.assert_array_equal(last, np.full(4, 15, np.float16))
