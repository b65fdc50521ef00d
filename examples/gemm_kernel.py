"""A Triton-like kernel on one PE: C = A @ B in f16 with f32 accumulation, K in blocks, checked against numpy.

A kernel is a plain function ``kernel(pointers..., sizes..., tl)``; ``tl.load`` / ``tl.store`` move tiles between
memory and the PE by DMA, ``tl.dot`` runs on the PE's GEMM unit. `torch.launch` runs it on every PE that holds its
tensors (here one: PE 0 of cube 0), times it, and computes the real result as simulated time passes.

    python examples/gemm_kernel.py
"""

import numpy as np

from kernbench.engine import Engine
from kernbench.kernels import TLBase
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.topology import DEFAULT_TOPOLOGY_PATH, load_topology

M, K, N, BLOCK_K = 64, 512, 128, 128


def matmul(a_ptr: int, b_ptr: int, c_ptr: int, m: int, k: int, n: int, block_k: int, tl: TLBase) -> None:
    """C (m, n) = A (m, k) @ B (k, n), all row-major f16; A and B loaded block_k columns / rows at a time."""
    acc = tl.zeros((m, n), "f32")
    for k0 in range(0, k, block_k):
        a = tl.load(a_ptr + k0 * 2, (m, block_k), "f16", row_stride=k * 2)  # a column block of A: strided rows
        b = tl.load(b_ptr + k0 * n * 2, (block_k, n), "f16")  # a row block of B: contiguous
        acc = tl.dot(a, b, acc=acc)  # f32 accumulator
    tl.store(c_ptr, acc, "f16")


def run(torch: RuntimeContext) -> None:
    rng = np.random.default_rng(0)
    a_host = rng.standard_normal((M, K)).astype(np.float16)
    b_host = (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float16)
    one_pe = DPPolicy(num_cubes=1, num_pes=1)
    with torch:
        a, b = torch.empty((M, K), "f16", dp=one_pe), torch.empty((K, N), "f16", dp=one_pe)
        c = torch.zeros((M, N), "f16", dp=one_pe)
        a.copy_(a_host)
        b.copy_(b_host)
        done = torch.launch("matmul", matmul, a, b, c, M, K, N, BLOCK_K)
        got = c.numpy().astype(np.float32)
    want = a_host.astype(np.float32) @ b_host.astype(np.float32)
    err = float(np.abs(got - want).max() / np.abs(want).max())
    busy = {unit: round(ns) for unit, ns in done.detail["busy_ns"].items()}
    print(f"{M}x{K} @ {K}x{N} on {done.detail['pes']} PE: {done.latency_ns:.0f} ns, busy ns per unit {busy}")
    print("PASS" if err < 1e-2 else f"FAIL: max relative error {err:.2e}")


def main() -> None:
    torch = RuntimeContext(Engine(load_topology(DEFAULT_TOPOLOGY_PATH)))
    torch.engine.spawn(0, lambda _sip: run(torch))  # host code in a host worker of SIP 0
    torch.engine.run()


if __name__ == "__main__":
    main()
