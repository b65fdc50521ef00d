"""``torch.multiprocessing.spawn`` with rank = SIP: one host worker per SIP this process simulates.

Under ``mpirun`` every process runs the same script (SPMD) and ``spawn(fn, nprocs=N)`` calls ``fn(r, *args)``
only for the SIPs ``r`` it owns, each in its own host worker (a greenlet) bound to SIP ``r``; one process alone
owns every SIP. ``spawn`` then runs the simulation until every worker is done. An exception in any worker ends
that worker; ``spawn`` raises `SpawnException` naming every failed rank, on every process (the outcomes travel
with the simulation's results, so no process is left waiting for a failed one).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernbench.runtime.context import RuntimeContext


class SpawnException(Exception):
    """Workers failed: ``errors`` maps each failed rank to its one-line error (the traceback is in ``details``)."""

    def __init__(self, errors: dict[int, str], details: dict[int, str]) -> None:
        lines = "; ".join(f"rank {rank}: {message}" for rank, message in sorted(errors.items()))
        super().__init__(f"{len(errors)} spawned worker(s) failed: {lines}")
        self.errors = errors
        self.details = details


class Multiprocessing:
    """``torch.multiprocessing`` of one process."""

    SpawnException = SpawnException

    def __init__(self, ctx: RuntimeContext) -> None:
        self._ctx = ctx
        self.results: dict[int, Any] = {}
        """What each rank's ``fn`` returned in the last ``spawn`` (every rank's, on every process)."""

    def spawn(self, fn: Callable[..., Any], args: tuple = (), nprocs: int | None = None, join: bool = True) -> None:
        """Run ``fn(rank, *args)`` for ranks ``0..nprocs-1`` (default: every SIP) and simulate until all finish."""
        engine = self._ctx.engine
        sips = self._ctx.topo.sip_count
        nprocs = sips if nprocs is None else int(nprocs)
        if not 1 <= nprocs <= sips:
            raise ValueError(f"spawn: nprocs must be 1..{sips} (rank = SIP), got {nprocs}")
        if not join:
            raise ValueError("spawn: join=False is not supported (the simulation runs inside spawn)")
        if _inside_host_code(self._ctx):
            raise RuntimeError("spawn: call it from the top level of the script (every process runs it), not from "
                               "host code that is already running on a SIP")

        def worker(rank: int) -> dict[str, Any]:
            try:
                return {"rank": rank, "ok": True, "value": fn(rank, *args)}
            except Exception as exc:
                return {"rank": rank, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc()}

        for rank in range(nprocs):
            if engine.is_local(rank):
                engine.spawn(rank, worker, name=f"spawn/rank{rank}")
        outcomes = [v for k, v in engine.run().workers.items() if k.startswith("spawn/rank")]
        failed = {o["rank"]: o["error"] for o in outcomes if not o["ok"]}
        if failed:
            details = {o["rank"]: o["traceback"] for o in outcomes if not o["ok"]}
            raise SpawnException(failed, details)
        self.results = {o["rank"]: o["value"] for o in outcomes}


def _inside_host_code(ctx: RuntimeContext) -> bool:
    try:
        ctx.engine.sim.current_lp()
    except RuntimeError:
        return False
    return True
