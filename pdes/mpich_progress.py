"""MPICH's progress settings, chosen per job before MPI initialises.

Blocking MPI calls in the pip MPICH busy-poll. When ranks outnumber the cores they run on (``mpirun -n 4`` on a
2-core machine, as CI does), a polling rank steals the core its peer needs and a run can crawl or stall;
MPICH's throttled progress and heavy yield (``MPIR_CVAR_CH4_PROGRESS_THROTTLE``, ``MPIR_CVAR_ENABLE_HEAVY_YIELD``)
make a waiting rank yield its core. When every rank has a core of its own, yielding only makes waiting slower: a
round's synchronization wakes up late (measured in docs/adr/0016-two-rank-payoff.md). So the settings are applied
only to oversubscribed jobs. A variable the user set is never overridden.
"""

from __future__ import annotations

import os

__all__ = ["YIELD_SETTINGS", "applied", "available_cores", "configure", "local_ranks", "oversubscribed"]

YIELD_SETTINGS = {"MPIR_CVAR_CH4_PROGRESS_THROTTLE": "true", "MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}

applied: dict[str, str] = {}
"""What `configure` set in this process's environment (empty: nothing, or not called)."""

_LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE")


def local_ranks(environ: dict[str, str] | os._Environ[str] = os.environ) -> int | None:
    """Ranks of this job on this node, as the launcher says (Hydra, Open MPI, Slurm); None when it does not."""
    for name in _LOCAL_SIZE_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def oversubscribed(environ: dict[str, str] | os._Environ[str] = os.environ, cores: int | None = None) -> bool:
    """Whether this node's ranks outnumber the cores this process may run on (unknown rank count: assume so)."""
    ranks = local_ranks(environ)
    return ranks is None or ranks > (available_cores() if cores is None else cores)


def configure(environ: dict[str, str] | os._Environ[str] = os.environ, cores: int | None = None) -> dict[str, str]:
    """Set the yield settings in ``environ`` when the job is oversubscribed; return the ones this call set."""
    if not oversubscribed(environ, cores):
        return {}
    chosen = {name: value for name, value in YIELD_SETTINGS.items() if name not in environ}
    environ.update(chosen)
    if environ is os.environ:
        applied.update(chosen)
    return chosen
