"""How a rank's rounds keep its LPs causal: the synchronization strategies (sst-core's ``RankSync*`` family).

A round of `pdes.engine.RankEngine` is: sweep the local LPs (`RankSync.sweep`), exchange with the neighbour ranks
(`RankSync.exchange`), then a global reduction (termination, deadlock, failures, the clock floor G). A strategy
decides how far an LP may advance (`RankSync.bounds`), how long a round sweeps, what a rank tells its neighbours
and when, and how many rounds later a rank waits for a reduction (`RankSync.reduction_lag`). Results do not depend
on the strategy; wall time does (docs/adr/0001, docs/adr/0016, docs/adr/0021).

- ``null`` (`NullMessageSync`): promises (null messages) and events go out once per round, in one batch per
  neighbour; a rank sweeps as long as its inputs let it, then waits for every neighbour's batch, and for the
  reduction started as many rounds before as the rank graph's diameter: Chandy-Misra-Bryant between neighbours,
  the job-wide reduction (termination, failures, clock jumps) off the critical path.
- ``window`` (`WindowSync`): no promises; every LP advances to G + its smallest input latency, one sweep per round,
  and every round ends in a blocking reduction (the synchronous-window scheme of YAWNS / SST's default).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from . import memory
from .codec import decode, encode

if TYPE_CHECKING:
    from .engine import RankEngine

__all__ = ["SYNC_MODES", "NullMessageSync", "RankSync", "WindowSync", "make_sync"]

INF = float("inf")
ROUND_BUDGET_S = 0.25  # end a round after this much sweeping, so progress and peers hear from us


class RankSync:
    """The protocol of one rank; it works on its engine's state (promises ``F``, LPs, outboxes, counters)."""

    name: ClassVar[str]

    @property
    def reduction_lag(self) -> int:
        """Wait for a round's reduction only at the end of the round this many rounds later (0: in the same round,
        blocking)."""
        return 0

    def __init__(self, engine: RankEngine) -> None:
        self.engine = engine

    def bounds(self) -> list[float]:
        """Per local LP: no message can arrive before this time."""
        raise NotImplementedError

    def sweep(self, horizon: float) -> None:
        """Advance the local LPs as the round allows."""
        raise NotImplementedError

    def exchange(self) -> None:
        """Tell the neighbour ranks what this round produced and hear what theirs did."""
        raise NotImplementedError

    # -- shared parts --------------------------------------------------------------------------------------------
    def _pass(self, bounds: list[float], horizon: float) -> int:
        """Advance each local LP to its bound (at most ``horizon``) once; write the new promises to ``F``.

        Returns the events processed, or -1 when model code raised (the failure is recorded; the promises of this
        pass are dropped, the older ones are still valid).
        """
        eng = self.engine
        runnable, run_workers = eng.workers.runnable, eng.workers.run_runnable
        processed = 0
        floors = []  # the new promises, written to F after the pass (bounds use the old ones anyway)
        for lp, bound in zip(eng.lps, bounds, strict=True):
            queue = lp._queue
            limit = bound if bound < horizon else horizon
            moved = 0
            if queue and queue[0][0] < limit:
                try:
                    moved = lp.advance(limit, runnable, run_workers)
                except Exception as exc:
                    memory.check(exc)
                    eng.record_failure(exc, lp)
                    return -1
            nxt = queue[0][0] if queue else INF
            floor = nxt if nxt < bound else bound
            floors.append(floor)
            processed += moved
        eng.F[eng.local_array] = floors
        eng.events += processed
        return processed

    def _batch(self, rank: int, promises: list[tuple[int, float]]) -> bytes:
        """``[promises, records]`` for ``rank``, emptying its outbox (the sinks hold on to that list)."""
        eng = self.engine
        box = eng.outbox[rank]
        data = encode([promises, box])
        eng.remote_sent += len(box)
        box.clear()
        return data

    def _changed_promises(self, rank: int, indices: list[int] | tuple[int, ...]) -> list[tuple[int, float]]:
        """The promises of ``indices`` that ``rank`` has not been told yet (and mark them told)."""
        eng = self.engine
        F, told = eng.F, eng.sent_floor[rank]
        out = []
        for i in indices:
            f = float(F[i])
            if told.get(i) != f:
                told[i] = f
                out.append((i, f))
        eng.null_msgs += len(out)
        return out

    def _apply(self, promises: list[tuple[int, float]], records: list) -> None:
        """Raise the promises and queue the events a neighbour sent."""
        eng = self.engine
        F, by_index = eng.F, eng.by_index
        for i, f in promises:
            if f > F[i]:
                F[i] = f
        for dst, when, src, seq, link, payload in records:
            by_index[dst].deliver(when, src, seq, link, payload)
        eng.remote_received += len(records)

    def _lockstep(self, batches: dict[int, bytes]) -> None:
        """Send one batch to every neighbour, wait for one from each and take them in (the wait booked as time
        blocked in synchronization)."""
        eng = self.engine
        if not eng.neighbours:
            return
        incoming, waited = eng.in_transport_call(eng.transport.exchange, batches, eng.neighbours)
        eng.exchange_wait_s += waited
        for data in incoming.values():
            self._apply(*decode(data))


class NullMessageSync(RankSync):
    """Chandy-Misra-Bryant null messages, batched: promises and events leave once per round."""

    name = "null"

    @property
    def reduction_lag(self) -> int:
        """The rank graph's diameter (at least 1): a rank can only be as many rounds ahead of another as there are
        ranks between them (each round waits for its neighbours' batches of that round), so with this lag the
        reduction never makes a rank wait for the whole job (docs/adr/0021). Each run ends that many empty rounds
        after the last event, and a clock jump across an idle gap comes that many rounds late."""
        return max(1, self.engine.diameter)

    def bounds(self) -> list[float]:
        eng = self.engine
        F = eng.F
        bounds = np.full(len(eng.lps), INF)
        if len(eng.in_starts):
            arrivals = F[eng.in_src] + eng.in_lat
            bounds[eng.has_in] = np.minimum.reduceat(arrivals, eng.in_starts)
        for members, latency, at, where in eng.group_in:
            # A member hears from every other member: latency + the smallest promise among the others,
            # which is the group's smallest promise except for the member holding it (then the second).
            promises = F[members]
            first = int(np.argmin(promises))
            smallest, second = np.partition(promises, 1)[:2]
            bound = np.full(len(at), smallest + latency)
            if where[first] >= 0:
                bound[where[first]] = second + latency
            np.minimum(bounds[at], bound, out=bound)
            bounds[at] = bound
        return bounds.tolist()

    def sweep(self, horizon: float) -> None:
        deadline = time.perf_counter() + ROUND_BUDGET_S
        while True:
            processed = self._pass(self.bounds(), horizon)
            if processed <= 0 or time.perf_counter() > deadline:
                return

    def exchange(self) -> None:
        eng = self.engine
        self._lockstep({r: self._batch(r, self._changed_promises(r, eng.out_remote[r])) for r in eng.neighbours})


class WindowSync(RankSync):
    """Synchronous windows: every LP advances to G + its smallest input latency, then a blocking reduction."""

    name = "window"

    def bounds(self) -> list[float]:
        eng = self.engine
        return (eng.G + eng.min_in_lat).tolist()

    def sweep(self, horizon: float) -> None:
        self._pass(self.bounds(), horizon)

    def exchange(self) -> None:
        self._lockstep({r: self._batch(r, []) for r in self.engine.neighbours})


SYNC_MODES: dict[str, type[RankSync]] = {cls.name: cls for cls in (NullMessageSync, WindowSync)}


def make_sync(name: str, engine: RankEngine) -> RankSync:
    """The strategy called ``name`` for ``engine``."""
    if name not in SYNC_MODES:
        raise ValueError(f"sync must be one of {tuple(SYNC_MODES)}, got {name!r}")
    return SYNC_MODES[name](engine)
