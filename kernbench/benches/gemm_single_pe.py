"""Small f16 GEMM (128x256 @ 256x128) on one PE, checked against numpy.

The smallest end-to-end bench: three tensors on PE 0 of cube 0 (the default placement), one kernel that loads
both operands whole into the PE, multiplies on PE_GEMM with f32 accumulation and stores f16.
"""

from __future__ import annotations

from typing import Any

import numpy as np

M, K, N = 128, 256, 128
SEED = 1
RTOL = 1e-2
"""Allowed max |error| relative to max |reference|: f16 rounding of the output is ~5e-4 of its scale."""


def gemm_kernel(a_ptr: int, b_ptr: int, c_ptr: int, m: int, k: int, n: int, tl: Any) -> None:
    """``C = A @ B`` in one tile: the operands fit the PE's staging area."""
    a = tl.load(a_ptr, (m, k), "f16")
    b = tl.load(b_ptr, (k, n), "f16")
    tl.store(c_ptr, tl.dot(a, b))


def run(torch: Any) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    a_host = rng.standard_normal((M, K)).astype(np.float16)
    b_host = (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float16)
    a = torch.empty((M, K), "f16", name="A")
    b = torch.empty((K, N), "f16", name="B")
    c = torch.zeros((M, N), "f16", name="C")
    a.copy_(torch.from_numpy(a_host))
    b.copy_(torch.from_numpy(b_host))
    done = torch.launch("gemm", gemm_kernel, a, b, c, M, K, N)
    out = c.numpy().astype(np.float32)
    ref = a_host.astype(np.float32) @ b_host.astype(np.float32)
    rel_err = float(np.abs(out - ref).max() / np.abs(ref).max())
    exec_ns = done.detail["exec_ns"]
    return {
        "checks": {"matches_numpy": rel_err <= RTOL, "ran_on_one_pe": done.detail["pes"] == 1},
        "shape": [M, K, N],
        "max_rel_err": rel_err,
        "kernel_exec_ns": exec_ns,
        "tflops": 2 * M * K * N / exec_ns / 1000,
    }
