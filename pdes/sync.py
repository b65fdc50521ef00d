"""How a rank's rounds keep its LPs causal: the synchronization strategies (sst-core's ``RankSync*`` family).

A round of `pdes.engine.RankEngine` is: sweep the local LPs (`RankSync.sweep`), exchange with the neighbour ranks
(`RankSync.exchange`), then a global reduction (termination, deadlock, failures, the clock floor G). A strategy
decides how far an LP may advance (`RankSync.bounds`), how long a round sweeps, what a rank tells its neighbours
and when, and whether the reduction overlaps the next round. Results do not depend on the strategy; wall time
does (docs/adr/0001, docs/adr/0016).

- ``null`` (`NullMessageSync`): promises (null messages) and events go out once per round, in one batch per
  neighbour; a rank sweeps as long as its inputs let it, then waits for every neighbour's batch.
- ``eager`` (`EagerNullSync`): the same promises, sent as they are made: after each LP's advance its new events
  and promise leave at once, and a rank picks up what its neighbours sent while it sweeps and while it waits, so
  a rank does not wait for a neighbour's whole sweep to go on.
- ``window`` (`WindowSync`): no promises; every LP advances to G + its smallest input latency, one sweep per round,
  and every round ends in a blocking reduction (the synchronous-window scheme of YAWNS / SST's default).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .codec import decode, encode
from .transport import exchange

if TYPE_CHECKING:
    from collections.abc import Callable

    from .engine import RankEngine
    from .lp import LP

    LPHook = Callable[[LP, float], None]

__all__ = ["SYNC_MODES", "EagerNullSync", "NullMessageSync", "RankSync", "WindowSync", "make_sync"]

INF = float("inf")
ROUND_BUDGET_S = 0.25  # end a round after this much sweeping, so progress and peers hear from us
CHUNK_EVENTS = 256  # eager: an LP's promise and output leave at least this often while it advances


class RankSync:
    """The protocol of one rank; it works on its engine's state (promises ``F``, LPs, outboxes, counters)."""

    name: ClassVar[str]
    overlap_reduction: ClassVar[bool] = True
    """Wait for a round's reduction only at the end of the next round (its outcome arrives a round late)."""

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
    def _pass(self, bounds: list[float], horizon: float, after: LPHook | None = None) -> int:
        """Advance each local LP to its bound (at most ``horizon``) once; write the new promises to ``F``.

        Returns the events processed, or -1 when model code raised (the failure is recorded; the promises of this
        pass are dropped, the older ones are still valid). ``after(lp, floor)`` runs after each LP with its new
        promise.
        """
        eng = self.engine
        processed = 0
        floors = []  # the new promises, written to F after the pass (bounds use the old ones anyway)
        for lp, bound in zip(eng.lps, bounds, strict=True):
            queue = lp._queue
            limit = bound if bound < horizon else horizon
            moved = 0
            if queue and queue[0][0] < limit:
                try:
                    moved = self._advance(lp, limit, bound)
                except Exception as exc:
                    eng.record_failure(exc, lp)
                    return -1
            nxt = queue[0][0] if queue else INF
            floor = nxt if nxt < bound else bound
            floors.append(floor)
            processed += moved
            if after is not None:
                after(lp, floor)
        eng.F[eng.local_array] = floors
        eng.events += processed
        return processed

    def _advance(self, lp: LP, limit: float, bound: float) -> int:  # noqa: ARG002 (EagerNullSync uses bound)
        """Advance ``lp`` to ``limit``; the events processed."""
        workers = self.engine.workers
        return lp.advance(limit, workers.runnable, workers.run_runnable)

    def _batch(self, rank: int, promises: list[tuple[int, float]], *head: object) -> bytes:
        """``[*head, promises, records]`` for ``rank``, emptying its outbox (the sinks hold on to that list)."""
        eng = self.engine
        box = eng.outbox[rank]
        data = encode([*head, promises, box])
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

    def _receive(self, tag: int) -> tuple[int, bytes | bytearray]:
        """A blocking receive, its wall and CPU time booked as time blocked in synchronization."""
        eng = self.engine
        t, c = time.perf_counter(), time.process_time()
        got = eng.transport.receive(tag)
        waited = time.perf_counter() - t
        eng.exchange_wait_s += waited
        eng.in_transport += waited
        eng.in_transport_cpu += time.process_time() - c
        return got

    def _lockstep(self, batches: dict[int, bytes]) -> None:
        """Send one batch to every neighbour, wait for one from each and take them in."""
        for data in exchange(self.engine.transport, batches, self.engine.tag, self._receive).values():
            self._apply(*decode(data))


class NullMessageSync(RankSync):
    """Chandy-Misra-Bryant null messages, batched: promises and events leave once per round."""

    name = "null"

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
        if not eng.neighbours:
            return
        self._lockstep({r: self._batch(r, self._changed_promises(r, eng.out_remote[r])) for r in eng.neighbours})


class EagerNullSync(NullMessageSync):
    """Null messages sent as they are made, and taken in while sweeping and while waiting.

    Within a round: after an LP advances, its events for other ranks and its new promise leave at once (a partial
    batch); before each pass the rank takes in whatever partial batches have arrived. At the end of its sweeps a
    rank sends a final batch; while it waits for its neighbours' finals it keeps taking in their partial batches
    and advancing its LPs with them. What it produces then stays in its outboxes for the next round (it has
    already said its last word for this one), and the engine's snapshot counts those held events' times, so the
    round's reduction still sees every message in flight (`pdes.engine.RankEngine.snapshot`).
    """

    name = "eager"

    def __init__(self, engine: RankEngine) -> None:
        super().__init__(engine)
        self.finals: set[int] = set()  # neighbours whose final batch of this round has arrived
        self.said_last_word = False  # this round's final batches are sent: what is made now waits for the next
        self.horizon = INF
        talks_to: dict[int, list[int]] = {}  # local LP index -> neighbour ranks it has links to
        for r, indices in engine.out_remote.items():
            for i in indices:
                talks_to.setdefault(i, []).append(r)
        self.talks_to = talks_to

    def sweep(self, horizon: float) -> None:
        self.horizon = horizon
        deadline = time.perf_counter() + ROUND_BUDGET_S
        while True:
            heard = self._take_arrived()
            processed = self._pass(self.bounds(), horizon, self._send_partial)
            if processed < 0 or (processed == 0 and not heard) or time.perf_counter() > deadline:
                return

    def exchange(self) -> None:
        eng = self.engine
        if not eng.neighbours:
            return
        for r in eng.neighbours:
            eng.transport.send(r, self._batch(r, self._changed_promises(r, eng.out_remote[r]), True), eng.tag)
        self.said_last_word = True
        while len(self.finals) < len(eng.neighbours):
            src, data = self._receive(eng.tag)
            self._take(src, data)
            if eng.failure is None:  # go on with what it brought; the results leave next round
                t, c = time.perf_counter(), time.process_time()
                self._pass(self.bounds(), self.horizon)
                eng.compute_s += time.perf_counter() - t
                eng.compute_cpu_s += time.process_time() - c
        eng.transport.complete_sends()
        self.finals.clear()
        self.said_last_word = False

    def _advance(self, lp: LP, limit: float, bound: float) -> int:
        """Advance ``lp`` in chunks of `CHUNK_EVENTS`: between chunks its promise so far (its next event, which
        no later output can precede) and its output leave, and what has arrived is taken in, so a neighbour
        whose next work hangs on this LP starts while it is still busy, not once its whole window is done."""
        workers = self.engine.workers
        runnable, run_workers = workers.runnable, workers.run_runnable
        if self.said_last_word:
            return lp.advance(limit, runnable, run_workers)
        moved = 0
        queue = lp._queue
        while True:
            done = lp.advance(limit, runnable, run_workers, CHUNK_EVENTS)
            moved += done
            if done < CHUNK_EVENTS or not queue or queue[0][0] >= limit:
                return moved
            nxt = queue[0][0]
            self._send_partial(lp, nxt if nxt < bound else bound)
            self._take_arrived()

    def _send_partial(self, lp: LP, floor: float) -> None:
        """After ``lp`` moved: its new promise and every event waiting for a neighbour it talks to leave now."""
        eng = self.engine
        for r in self.talks_to.get(lp.index, ()):
            told = eng.sent_floor[r]
            promises = []
            if told.get(lp.index) != floor:
                told[lp.index] = floor
                promises.append((lp.index, floor))
                eng.null_msgs += 1
            if promises or eng.outbox[r]:
                eng.transport.send(r, self._batch(r, promises, False), eng.tag)
        # F[lp.index] becomes ``floor`` at the end of the pass; until then the promise told is ahead of F.

    def _take_arrived(self) -> bool:
        """Take in every batch of this round that has arrived; whether there was one."""
        transport, tag = self.engine.transport, self.engine.tag
        heard = False
        while (got := transport.poll(tag)) is not None:
            self._take(*got)
            heard = True
        return heard

    def _take(self, src: int, data: bytes | bytearray) -> None:
        final, promises, records = decode(data)
        self._apply(promises, records)
        if final:
            self.finals.add(src)


class WindowSync(RankSync):
    """Synchronous windows: every LP advances to G + its smallest input latency, then a blocking reduction."""

    name = "window"
    overlap_reduction = False

    def bounds(self) -> list[float]:
        eng = self.engine
        return (eng.G + eng.min_in_lat).tolist()

    def sweep(self, horizon: float) -> None:
        self._pass(self.bounds(), horizon)

    def exchange(self) -> None:
        eng = self.engine
        if not eng.neighbours:
            return
        self._lockstep({r: self._batch(r, []) for r in eng.neighbours})


SYNC_MODES: dict[str, type[RankSync]] = {cls.name: cls for cls in (NullMessageSync, EagerNullSync, WindowSync)}


def make_sync(name: str, engine: RankEngine) -> RankSync:
    """The strategy called ``name`` for ``engine``."""
    if name not in SYNC_MODES:
        raise ValueError(f"sync must be one of {tuple(SYNC_MODES)}, got {name!r}")
    return SYNC_MODES[name](engine)
