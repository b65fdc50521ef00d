"""Multi-PE QKV GEMM (the earlier kernbench's qkv_gemm_multi_pe): 16 PEs of 2 cubes, cube-local N, vs numpy.

W and Y are column-sharded over 2 cubes x 8 PEs.
``Y = X @ W`` with X (64 x 1024) replicated in each cube, W (1024 x 768: Q, K, V of 2 heads of 128) and Y column-
sharded ``DPPolicy(cube="column_wise", pe="column_wise", num_cubes=2)``: PE ``p`` of cube ``c`` owns shard ``s = c
* 8 + p`` at ``VA + s * shard_bytes``. The kernel is written as the earlier kernbench's were: ``N`` is passed as
the global 768 and ``torch.launch`` hands the kernel the cube-local 384 (seed ``dim_map``), from which each PE
takes its ``384 / 8`` columns. Checks Y against numpy (max |error| / max |reference| <= 1e-2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernbench.runtime import DPPolicy

TOKENS = 64
D_MODEL = 1024
N = 3 * 2 * 128
CUBES = 2
SEED = 5
RTOL = 1e-2
F16 = 2


def qkv_kernel(x_ptr: int, w_ptr: int, y_ptr: int, m: int, k: int, n_local: int, tl: Any) -> None:
    """One PE: its ``n_local / PEs`` columns of this cube's ``n_local`` columns of Y."""
    pe, cube, pes = tl.program_id(axis=0), tl.program_id(axis=1), tl.num_programs(axis=0)
    width = n_local // pes
    shard = cube * pes + pe
    a = tl.load(x_ptr, (m, k), "f16")
    b = tl.load(w_ptr + shard * k * width * F16, (k, width), "f16")
    tl.store(y_ptr + shard * m * width * F16, tl.dot(a, b, out_dtype="f32"), "f16")


def run(torch: Any) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    x_host = rng.standard_normal((TOKENS, D_MODEL)).astype(np.float16)
    w_host = (rng.standard_normal((D_MODEL, N)) / np.sqrt(D_MODEL)).astype(np.float16)
    sharded = DPPolicy(cube="column_wise", pe="column_wise", num_cubes=CUBES)
    x = torch.empty(
        (TOKENS, D_MODEL), "f16", dp=DPPolicy(cube="replicate", pe="replicate", num_cubes=CUBES, num_pes=1), name="X"
    )
    w = torch.empty((D_MODEL, N), "f16", dp=sharded, name="W_qkv")
    y = torch.zeros((TOKENS, N), "f16", dp=sharded, name="Y")
    x.copy_(torch.from_numpy(x_host))
    w.copy_(torch.from_numpy(w_host))
    done = torch.launch("qkv_gemm_multi_pe", qkv_kernel, x, w, y, TOKENS, D_MODEL, N)
    out = y.numpy().astype(np.float32)
    ref = x_host.astype(np.float32) @ w_host.astype(np.float32)
    err = float(np.abs(out - ref).max() / np.abs(ref).max())
    return {
        "checks": {"matches_numpy": err <= RTOL},
        "max_rel_err": err,
        "pes": len(y.shards),
        "kernel_ns": done.latency_ns,
    }
