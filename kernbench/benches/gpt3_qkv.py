"""GPT-3 QKV projection of one attention head on one PE (the earlier kernbench's gpt3_qkv), vs numpy.

``[Q | K | V] = X @ [W_q | W_k | W_v]`` for ``TOKENS`` tokens of GPT-3 175B (``D_MODEL = 12288``, ``HEAD_DIM =
128``): X (TOKENS x 12288), W (12288 x 384), f16 in, f32 accumulation, f16 out, on PE 0 of cube 0 (the default
placement) with the tiled `gemm_kernel`. Checks Q, K and V separately against numpy (max |error| / max |reference|
<= 1e-2) and reports the simulated latency and the PE's achieved TFLOP/s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernbench.kernels.gemm import gemm_kernel

TOKENS = 64
D_MODEL = 12288
HEAD_DIM = 128
N = 3 * HEAD_DIM
SEED = 11
RTOL = 1e-2


def run(torch: Any) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    x_host = rng.standard_normal((TOKENS, D_MODEL)).astype(np.float16)
    w_host = (rng.standard_normal((D_MODEL, N)) / np.sqrt(D_MODEL)).astype(np.float16)
    x = torch.empty((TOKENS, D_MODEL), "f16", name="X")
    w = torch.empty((D_MODEL, N), "f16", name="W_qkv")
    y = torch.zeros((TOKENS, N), "f16", name="QKV")
    x.copy_(torch.from_numpy(x_host))
    w.copy_(torch.from_numpy(w_host))
    done = torch.launch("gpt3_qkv", gemm_kernel, x, w, y, TOKENS, D_MODEL, N)
    out = y.numpy().astype(np.float32)
    ref = x_host.astype(np.float32) @ w_host.astype(np.float32)
    checks, errors = {}, {}
    for i, name in enumerate("qkv"):
        cols = slice(i * HEAD_DIM, (i + 1) * HEAD_DIM)
        errors[name] = float(np.abs(out[:, cols] - ref[:, cols]).max() / np.abs(ref[:, cols]).max())
        checks[f"{name}_matches_numpy"] = errors[name] <= RTOL
    flops = 2 * TOKENS * D_MODEL * N
    return {
        "checks": checks,
        "max_rel_err": max(errors.values()),
        "shape": [TOKENS, D_MODEL, N],
        "kernel_ns": done.latency_ns,
        "tflops": flops / done.latency_ns / 1e3,
    }
