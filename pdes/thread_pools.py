"""Numerical thread pools of one thread per process, set before numpy loads.

OpenBLAS (numpy's), OpenMP and MKL start one thread per core in every process, and their idle threads spin for a
while after each call. The simulator's numpy work is on tiles (a GEMM kernel's blocks, a bench's reference of a
few hundred rows), where extra threads give nothing and, on a machine shared with other processes or ranks,
starve the model code: under ``mpirun -n 2`` on 2 cores dp_step on 16 SIPs took 8 s against 2.1 s with one thread
per rank (docs/adr/0016-two-rank-payoff.md); in one process on a loaded 2-core machine, 1,000 64x128x512 f32
matmuls took 7.7 s with OpenBLAS's two threads against 0.42 s with one (llm_step's numpy reference: 9.6 s). So
each pool gets one thread, with or without a launcher; a variable the user set is never overridden. It must happen
before numpy is first imported, so importing this module does it; ``import pdes`` (and so ``import kernbench``)
imports it first.
"""

from __future__ import annotations

import os

__all__ = ["POOL_VARIABLES", "configure"]

POOL_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def configure(environ: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, str]:
    """Set each pool the user left unset to one thread; return what this call set."""
    chosen = {name: "1" for name in POOL_VARIABLES if name not in environ}
    environ.update(chosen)
    return chosen


configure()
