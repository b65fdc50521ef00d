"""Kernels on PEs: real results, time from the YAML, errors that name the PE."""

import numpy as np
import pytest

from kernbench.engine import KernelError, TranslationError
from kernbench.kernels import FLOPS_PER_ELEMENT
from kernbench.runtime import DPPolicy
from kernbench.topology import PhysAddr
from tests.kernbench.helpers import assert_f16_close

from .conftest import on_sip


def gemm_kernel(a_ptr, b_ptr, o_ptr, m, k, n, tl):
    a = tl.load(a_ptr, (m, k), "f16")
    b = tl.load(b_ptr, (k, n), "f16")
    tl.store(o_ptr, tl.dot(a, b))


def column_gemm_kernel(a_ptr, b_ptr, o_ptr, m, k, n, tl):
    """Each PE of the cube multiplies A by its column block of B (column-sharded B and output)."""
    p, count = tl.program_id(0), tl.num_programs(0)
    width = n // count
    a = tl.load(a_ptr, (m, k), "f16")
    b = tl.load(b_ptr + p * k * width * 2, (k, width), "f16")
    tl.store(o_ptr + p * m * width * 2, tl.dot(a, b))


def matrices(m, k, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(np.float16), rng.standard_normal((k, n)).astype(np.float16)


def f32_product(a, b):
    return a.astype(np.float32) @ b.astype(np.float32)


def test_single_pe_gemm_equals_numpy(topo):
    a_np, b_np = matrices(32, 64, 48)

    def body(torch):
        a, b, out = torch.zeros((32, 64)), torch.zeros((64, 48)), torch.empty((32, 48))
        a.copy_(a_np)
        b.copy_(b_np)
        torch.launch("gemm", gemm_kernel, a, b, out, 32, 64, 48)
        return out.numpy()

    got, _ = on_sip(topo, body)
    assert_f16_close(got, f32_product(a_np, b_np))


@pytest.mark.parametrize("num_cubes", [1, 2])
def test_multi_pe_column_sharded_gemm_equals_numpy(topo, num_cubes):
    """B and the output are column-sharded over each cube's 8 PEs and replicated over ``num_cubes`` cubes."""
    m, k, n = 16, 64, 8 * 16
    a_np, b_np = matrices(m, k, n, seed=1)
    cols = DPPolicy(pe="column_wise", num_cubes=num_cubes)

    def body(torch):
        a = torch.zeros((m, k), dp=DPPolicy(pe="replicate", num_cubes=num_cubes))
        b, out = torch.zeros((k, n), dp=cols), torch.empty((m, n), dp=cols)
        a.copy_(a_np)
        b.copy_(b_np)
        done = torch.launch("colgemm", column_gemm_kernel, a, b, out, m, k, n)
        return {"out": out.numpy(), "pes": done.detail["pes"]}

    got, _ = on_sip(topo, body)
    assert got["pes"] == 8 * num_cubes
    assert_f16_close(got["out"], f32_product(a_np, b_np))


def test_gemm_time_is_flops_over_the_pe_throughput(topo):
    """The GEMM unit's busy time is its overhead plus the scheduler's plus 2*M*N*K / flops_per_ns, exactly."""
    gemm, sched = topo.pe.pe_gemm, topo.pe.scheduler

    def run(m, k, n):
        def body(torch):
            a, b, out = torch.zeros((m, k)), torch.zeros((k, n)), torch.empty((m, n))
            return torch.launch("gemm", gemm_kernel, a, b, out, m, k, n).detail

        return on_sip(topo, body)[0]

    small, big = run(64, 64, 64), run(128, 256, 128)
    for (m, k, n), detail in (((64, 64, 64), small), ((128, 256, 128), big)):
        flops = 2 * m * n * k
        assert detail["flops"] == flops
        fixed = sched.overhead_ns + gemm.overhead_ns
        assert detail["busy_ns"]["gemm"] == pytest.approx(fixed + flops / gemm.flops_per_ns)
    assert big["busy_ns"]["gemm"] - small["busy_ns"]["gemm"] == pytest.approx(
        (2 * 128 * 256 * 128 - 2 * 64**3) / gemm.flops_per_ns
    )


def test_math_results_and_cost(topo):
    x_np = np.linspace(-3, 3, 64, dtype=np.float32).reshape(8, 8)

    def kernel(x_ptr, o_ptr, tl):
        x = tl.load(x_ptr, (8, 8), "f32")
        y = tl.softmax(tl.exp(x) * 0.5 + tl.sigmoid(x), axis=1)
        tl.store(o_ptr, tl.clamp(y - tl.max(y, axis=1).value[:, None], -1.0, 0.0) + tl.sum(x))

    def body(torch):
        x, out = torch.zeros((8, 8), "f32"), torch.empty((8, 8), "f32")
        x.copy_(x_np)
        detail = torch.launch("math", kernel, x, out).detail
        return {"out": out.numpy(), "math_ns": detail["busy_ns"]["math"], "flops": detail["flops"]}

    got, _ = on_sip(topo, body)
    e = np.exp(x_np) * 0.5 + 1 / (1 + np.exp(-x_np))
    y = np.exp(e - e.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    want = np.clip(y - y.max(axis=1)[:, None], -1, 0) + x_np.sum()
    np.testing.assert_allclose(got["out"], want, rtol=1e-5, atol=1e-5)
    ops = ["exp", "mul", "sigmoid", "add", "softmax", "max", "sub", "clamp", "sum", "add"]
    flops = sum(64 * FLOPS_PER_ELEMENT[op] for op in ops)
    math = topo.pe.pe_math
    assert got["flops"] == flops
    fixed = len(ops) * (math.overhead_ns + topo.pe.scheduler.overhead_ns)
    assert got["math_ns"] == pytest.approx(fixed + flops / math.flops_per_ns)


def test_program_ids_and_the_launch_start_barrier(topo):
    """Every PE of a launch starts at the same instant, whatever its dispatch path; ids follow the grid."""
    grid = [(0, 0), (0, 5), (3, 0), (3, 5), (15, 7)]

    def kernel(out_ptr, tl):
        ctx = tl.ctx
        row = np.array([[ctx.now, tl.program_id(0), tl.num_programs(0), tl.program_id(1), tl.num_programs(1)]])
        tl.store(out_ptr + 40 * (ctx.cube * 8 + ctx.pe), row.astype(np.float64).view(np.uint8).reshape(-1), "u8")

    def body(torch):
        out = torch.zeros((16 * 8, 40), "u8")
        torch.launch("ids", kernel, out, grid=grid)
        return out.numpy()

    got, _ = on_sip(topo, body)
    rows = {(c, p): got[c * 8 + p].view(np.float64) for c, p in grid}
    starts = {row[0] for row in rows.values()}
    assert len(starts) == 1
    assert {k: tuple(v[1:]) for k, v in rows.items()} == {
        (0, 0): (0, 3, 0, 3),
        (0, 5): (1, 3, 0, 3),
        (3, 0): (0, 3, 1, 3),
        (3, 5): (1, 3, 1, 3),
        (15, 7): (2, 3, 2, 3),
    }


def test_loads_and_stores_reach_another_sip(topo):
    """A kernel on sip0 reads sip1's HBM and writes sip0's SRAM through physical pointers."""

    def kernel(tl):
        x = tl.load(PhysAddr.hbm(1, 2, 0), (4,), "f32")
        tl.store(PhysAddr.sram(0, 0, 0), x + 1.0)

    def body(torch):
        c = torch.launch("remote", kernel, grid=[(0, 0)])
        engine_sip = torch.engine.sip(0)
        return {
            "value": engine_sip.memory(PhysAddr.sram(0, 0, 0)).read(0, 16).view(np.float32),
            "dma_bytes": c.detail["dma_bytes"],
        }

    got, _ = on_sip(topo, body)
    np.testing.assert_array_equal(got["value"], np.ones(4, np.float32))  # sip1's HBM holds zeros
    assert got["dma_bytes"] == 32


@pytest.mark.parametrize(
    ("kernel", "cause", "text"),
    [
        (lambda _tl: 1 / 0, ZeroDivisionError, "division by zero"),
        (lambda tl: tl.load(0x1_0000_0000 + (40 << 30), (4,), "f32"), TranslationError, "is not mapped"),
        (lambda tl: tl.load(PhysAddr.hbm(0, 0, 0), (4 << 20,), "f16"), ValueError, "staging area"),
    ],
)
def test_kernel_errors_name_kernel_sip_cube_and_pe(topo, kernel, cause, text):
    def body(torch):
        try:
            torch.launch("bad", kernel, grid=[(0, 1), (4, 6)])
        except KernelError as exc:
            return {"message": str(exc), "cause": type(exc.__cause__).__name__}
        return None

    got, _ = on_sip(topo, body)
    assert got["message"].startswith("kernel 'bad' failed on sip0 cube 0 pe 1: ")
    assert text in got["message"]
    assert got["cause"] == cause.__name__


@pytest.mark.parametrize("memory", ["hbm", "sram", "tcm"])
def test_load_and_store_in_every_memory(topo, memory):
    """A kernel doubles a tensor held in HBM, SRAM or its own TCM, by virtual address."""
    values = np.arange(1024, dtype=np.float32).reshape(4, 256)

    def kernel(x_ptr, tl):
        tl.store(x_ptr, tl.load(x_ptr, (4, 256), "f32") * 2.0)

    def body(torch):
        x = torch.zeros((4, 256), "f32", memory=memory)
        x.copy_(values)
        detail = torch.launch("double", kernel, x).detail
        return {"x": x.numpy(), "unit": x.shard_addrs[0].unit.name, "dma": detail["dma_bytes"]}

    got, _ = on_sip(topo, body)
    np.testing.assert_array_equal(got["x"], values * 2)
    assert got["unit"] == {"hbm": "HBM", "sram": "SRAM", "tcm": "PE_TCM"}[memory]
    assert got["dma"] == (0 if memory == "tcm" else 2 * values.nbytes)  # its own TCM needs no DMA
