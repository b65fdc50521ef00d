"""Numerical thread pools sized to an MPI rank's share of its node, before numpy loads.

OpenBLAS (numpy's), OpenMP and MKL start one thread per core in every process, and their idle threads spin for a
while after each call. Under ``mpirun -n 2`` on a 2-core machine that is four busy threads on two cores: the
ranks' model code and the BLAS calls of host code (a bench's numpy reference, a GEMM kernel's tiles) starve
each other (measured: dp_step on 16 SIPs took 8 s on 2 ranks against 3.7 s in one process, 2.1 s with one
thread per rank; docs/adr/0016-two-rank-payoff.md). So under an MPI launcher each pool gets
``cores // ranks on this node`` threads (at least 1). A process started without a launcher keeps the
libraries' defaults, and a variable the user set is never overridden. It must happen before numpy is first
imported, so importing this module does it; ``import pdes`` (and so ``import kernbench``) imports it first.
"""

from __future__ import annotations

import os

from .mpich_progress import available_cores, local_ranks

__all__ = ["POOL_VARIABLES", "configure"]

POOL_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def configure(environ: dict[str, str] | os._Environ[str] = os.environ, cores: int | None = None) -> dict[str, str]:
    """Set each pool's size for an MPI rank (nothing without a launcher); return what this call set."""
    ranks = local_ranks(environ)
    if ranks is None:
        return {}
    share = str(max(1, (available_cores() if cores is None else cores) // ranks))
    chosen = {name: share for name in POOL_VARIABLES if name not in environ}
    environ.update(chosen)
    return chosen


configure()
