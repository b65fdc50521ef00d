"""The conservative synchronizer of one rank.

Each round: advance the local LPs as far as their input channels allow, exchange
with the neighbour ranks (real messages plus promises), then start a global
reduction (termination, deadlock, failures, clock jumps) and fold in the one
started `RankSync.reduction_lag` rounds before: a rank waits each round only for
its neighbours, and for the whole job only that many rounds later. How a round
sweeps and exchanges is the rank's synchronization strategy (`pdes.sync`). The
same code runs over the in-process and the MPI transport. See docs/adr/0001 and
docs/adr/0021.
"""

from __future__ import annotations

import hashlib
import math
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from greenlet import getcurrent

from . import memory
from .codec import CodecError, decode, encode
from .errors import ModelError, RemoteError, SimulationDeadlock, message_of
from .gc_clock import gc_seconds
from .gc_clock import install as count_gc_time
from .lp import LP, Record, Sink
from .model import Model, horizon_message, time_limit
from .partition import Partition
from .sync import make_sync
from .transport import Transport
from .workers import Worker, WorkerFailure, WorkerPool

__all__ = ["Failure", "RankEngine"]

INF = math.inf
T = TypeVar("T")


class Failure:
    """An exception raised by model code on this rank (``lp`` None: by code outside the simulation, see settle)."""

    def __init__(self, rank: int, lp: str | None, exc: BaseException) -> None:
        self.rank = rank
        self.lp = lp
        self.exc = exc
        self.text = "".join(traceback.format_exception(exc))

    def describe(self) -> dict:
        return {
            "rank": self.rank,
            "lp": self.lp,
            "type": type(self.exc).__name__,
            "message": message_of(self.exc),
            "traceback": self.text,
        }

    @staticmethod
    def where(described: dict) -> str:
        """``rank 1 LP 'c'``, or ``rank 1`` for a failure outside the simulation."""
        lp = described["lp"]
        return f"rank {described['rank']}" + (f" LP {lp!r}" if lp is not None else "")


class RankEngine:
    """The LPs one rank owns and the protocol that keeps them causal."""

    def __init__(self, model: Model, partition: Partition, transport: Transport, sync: str, registry: dict) -> None:
        started, started_cpu = time.perf_counter(), time.process_time()
        count_gc_time()
        self.model = model
        self.transport = transport
        self.rank = transport.rank
        self.sync = sync
        self.owner = partition.owner
        self.names = model.lp_names
        self.local = partition.local(self.rank)
        self.workers = WorkerPool(registry)
        self.failure: Failure | None = None
        self.ended: BaseException | None = None
        """What ended a failed run; every later run raises it again at once, without waiting for any rank."""
        self.settling = False
        self.step, self.step_key = "a run", _step_key("a run")
        n = len(self.names)
        self.F = np.zeros(n)  # promises: LP i sends nothing before F[i]
        self.G = 0.0  # global lower bound on any event time, from the last reduction
        self.time_limit = time_limit(model.shortest_link[0])  # a run to quiescence stops there
        self._wire(model)
        self.strategy = make_sync(sync, self)
        self.events = 0
        self.rounds = 0
        self.reductions = 0
        self.null_msgs = 0
        self.remote_sent = 0
        self.remote_received = 0
        self.compute_s = 0.0
        self.exchange_wait_s = 0.0
        self.reduce_wait_s = 0.0
        self.wall_s = 0.0
        self.round_busy: list[float] = []
        """Per round (of every run, in order): this rank's busy seconds, the round's wall time less the time spent
        inside the transport (waiting for peers, or for virtual ranks, while the others ran). The projection
        (`pdes.projection`) takes the slowest rank's per round; with MPI the list is this rank's only."""
        self.round_cpu: list[float] = []
        """Per round: this rank's busy CPU seconds (process time, measured like `round_busy`): the busy time it
        would take on a core of its own, however loaded the machine was."""
        self.compute_cpu_s = 0.0
        self.in_transport = 0.0  # transport seconds since the round began
        self.in_transport_cpu = 0.0
        self.round_gc: list[float] = []
        """Per round: the part of `round_busy` spent in the garbage collector (`pdes.gc_clock`)."""
        self.in_transport_gc = 0.0
        self.other_s = time.perf_counter() - started
        """Busy seconds outside runs: wiring and building the local LPs, checking the model (each MPI rank does its
        own)."""
        self.other_cpu_s = time.process_time() - started_cpu

    @property
    def blocked_s(self) -> float:
        """Seconds spent waiting in synchronization: batch exchanges plus reductions."""
        return self.exchange_wait_s + self.reduce_wait_s

    # --- construction -------------------------------------------------------
    def _wire(self, model: Model) -> None:
        """Ports, neighbour ranks and input-bound tables of the local LPs.

        Explicit links cost O(links). A link group costs O(members) per rank: one shared port
        table for all its local members, and its input bounds come from the two smallest
        promises among its members (see `pdes.sync.NullMessageSync.bounds`), never from a per-pair table.
        """
        rank, owner, index = self.rank, self.owner, model.index
        local_set = set(self.local)
        ports: dict[int, dict[str, tuple[int, float]]] = {i: {} for i in self.local}
        in_la: dict[int, dict[int, float]] = {i: {} for i in self.local}
        out_remote: dict[int, set[int]] = {}
        neighbours: set[int] = set()
        rank_graph: dict[int, set[int]] = {}  # every rank's neighbour ranks, for the reduction lag
        for link in model.links:
            s, d = index(link.src), index(link.dst)
            if owner[s] != owner[d]:
                rank_graph.setdefault(owner[s], set()).add(owner[d])
                rank_graph.setdefault(owner[d], set()).add(owner[s])
            if owner[s] == rank:
                ports[s][link.name] = (d, link.latency)
                if owner[d] != rank:
                    out_remote.setdefault(owner[d], set()).add(s)
                    neighbours.add(owner[d])
            if owner[d] == rank:
                in_la[d][s] = min(in_la[d].get(s, INF), link.latency)
                if owner[s] != rank:
                    neighbours.add(owner[s])
        groups = []  # (group, local members) of the groups with a local member and someone to talk to
        for group in model.groups:
            owners = {owner[i] for i in group.indices}
            for r in owners:
                rank_graph.setdefault(r, set()).update(owners - {r})
            mine = [i for i in group.indices if i in local_set]
            if mine and len(group) > 1:
                groups.append((group, mine))
                others = {owner[i] for i in group.indices} - {rank}
                neighbours |= others
                for r in others:  # every local member sends to, and hears from, every remote one
                    out_remote.setdefault(r, set()).update(mine)
        self.neighbours = sorted(neighbours)
        self.diameter = diameter(rank_graph)
        self.out_remote = {r: sorted(out_remote.get(r, ())) for r in self.neighbours}
        self.sent_floor: dict[int, dict[int, float]] = {r: {} for r in self.neighbours}
        self.outbox: dict[int, list[Record]] = {r: [] for r in self.neighbours}
        self.lps = [LP(self.names[i], i, model.seed, self.names) for i in self.local]
        self.by_index = {lp.index: lp for lp in self.lps}
        self.local_array = np.array(self.local, dtype=np.int64)
        position = {i: k for k, i in enumerate(self.local)}
        sinks: dict[int, Sink] = {}  # dst index -> where its messages go: the LP itself here, or the outbox of its rank

        def sink(d: int) -> Sink:
            return sinks.get(d) or sinks.setdefault(d, self._sink(d))

        tables: dict[int, list[dict]] = {i: [] for i in self.local}  # LP -> port tables of its groups
        group_in = []  # per group: member indices, latency, local positions of the local members, ``where``
        group_la = np.full(len(self.local), INF)  # smallest group latency into each local LP
        for group, mine in groups:
            latency, prefix = group.latency, group.prefix
            table = {prefix + name: (d, latency, sink(d)) for name, d in group.index_of.items()}
            members = np.array(group.indices, dtype=np.int64)
            at = np.array([position[i] for i in mine], dtype=np.int64)
            where = np.full(len(members), -1, dtype=np.int64)  # member -> its entry in ``at``, -1 if remote
            where[[k for k, i in enumerate(group.indices) if i in local_set]] = np.arange(len(at))
            group_in.append((members, latency, at, where))
            for i in mine:
                tables[i].append(table)
            np.minimum.at(group_la, at, latency)
        for lp in self.lps:
            lp.connect(
                {port: (d, latency, sink(d)) for port, (d, latency) in ports[lp.index].items()}, tables[lp.index]
            )
        src: list[int] = []
        lat: list[float] = []
        starts: list[int] = []
        has_in: list[bool] = []
        for i in self.local:
            has_in.append(bool(in_la[i]))
            if in_la[i]:
                starts.append(len(src))
                for s in sorted(in_la[i]):
                    src.append(s)
                    lat.append(in_la[i][s])
        self.in_src = np.array(src, dtype=np.int64)
        self.in_lat = np.array(lat, dtype=float)
        self.in_starts = np.array(starts, dtype=np.int64)
        self.has_in = np.array(has_in, dtype=bool)
        self.group_in = group_in
        self.min_in_lat = np.minimum(np.array([min(in_la[i].values(), default=INF) for i in self.local]), group_la)
        self.has_input = self.has_in | (group_la < INF)  # explicit or group inputs

    def build(self) -> Failure | None:
        """Run the builders of the local LPs; return the first failure."""
        t, c = time.perf_counter(), time.process_time()
        try:
            for lp, has_inputs in zip(self.lps, self.has_input, strict=True):
                spec = self.model.lps[lp.index]
                try:
                    lp.state = spec.build(lp)
                    if has_inputs and lp._handler is None:
                        raise ModelError(
                            f"LP {lp.name!r} has input links but its builder set no handler (lp.on_receive)"
                        )
                except Exception as exc:
                    memory.check(exc)
                    return Failure(self.rank, lp.name, exc)
            return None
        finally:
            self.other_s += time.perf_counter() - t
            self.other_cpu_s += time.process_time() - c

    def check_build(self, failure: Failure | None) -> None:
        """Collective: every rank has the same model and built without error, or all raise."""
        t, c = time.perf_counter(), time.process_time()
        mine = [self.model.digest(), self.model.describe(), failure.describe() if failure else None]
        self.other_s += time.perf_counter() - t
        self.other_cpu_s += time.process_time() - c
        everyone = [decode(b) for b in self.transport.allgather(encode(mine))]
        digests = {d for d, _, _ in everyone}
        if len(digests) > 1:
            lines = "; ".join(f"rank {r}: {desc} [{d}]" for r, (d, desc, _) in enumerate(everyone))
            raise ModelError(f"the model differs between ranks (each must declare the same LPs and links): {lines}")
        self._raise_failures(failure, [f for _, _, f in everyone if f], during="building the model")

    # --- model-facing hooks -------------------------------------------------
    def _sink(self, dst: int) -> Sink:
        """Where messages to LP ``dst`` go: straight into it when local, else into its rank's outbox."""
        if self.owner[dst] == self.rank:
            return self.by_index[dst].deliver
        append = self.outbox[self.owner[dst]].append

        def to_outbox(when: float, src: int, seq: int, link: str, payload: Any) -> None:
            append((dst, when, src, seq, link, payload))

        return to_outbox

    def spawn_worker(self, lp_index: int, fn: Callable, args: tuple, name: str | None) -> Worker:
        return self.workers.spawn(self.by_index[lp_index], fn, args, name)

    # --- the loop -----------------------------------------------------------
    def run(
        self, until: float | None, progress: Callable[[dict], None] | None, settling: bool = False, step: str = "a run"
    ) -> list:
        """Run to ``until`` (or quiescence); return every rank's (reports, rank stats, LP stats, worker values),
        each still encoded (virtual ranks share one process: it decodes them once, `pdes.Simulation.run`).

        ``step`` names this run in the rank's script (``spawn #2 (nprocs=4)``): every rank must be at the same
        step, or every rank raises a `ModelError` naming each rank's (the ranks' scripts took different paths).
        ``settling``: this rank only settles (`settle`, a step of its own); it returns nothing.
        """
        if self.ended is not None:
            raise self.ended
        t0, c0, g0 = time.perf_counter(), time.process_time(), gc_seconds()
        self.settling = settling
        self.step, self.step_key = step, _step_key(step)
        self.workers.attach(getcurrent())
        horizon = INF if until is None else float(until)
        try:
            self.workers.run_runnable()
        except WorkerFailure as exc:
            self.record_failure(exc, None)
        self.compute_s += time.perf_counter() - t0
        self.compute_cpu_s += time.process_time() - c0
        strategy = self.strategy
        pending: deque[Any] = deque()  # the reductions started and not yet finished, oldest first
        lag = strategy.reduction_lag
        outcome: str | None = None
        round_start, round_cpu, round_gc = t0, c0, g0  # the first round's busy time includes the host code above
        while outcome is None:
            self.rounds += 1
            self.in_transport = self.in_transport_cpu = self.in_transport_gc = 0.0
            if self.failure is None:
                t, c = time.perf_counter(), time.process_time()
                strategy.sweep(horizon)
                self.compute_s += time.perf_counter() - t
                self.compute_cpu_s += time.process_time() - c
            strategy.exchange()
            pending.append(self._reduce_start(self._snapshot()))
            if len(pending) > lag:  # every rank finishes the same reduction in the same round
                outcome = self._apply(self._reduce(pending.popleft()), until, progress, t0)
            now, cpu, gc_now = time.perf_counter(), time.process_time(), gc_seconds()
            self.round_busy.append(now - round_start - self.in_transport)
            self.round_cpu.append(cpu - round_cpu - self.in_transport_cpu)
            self.round_gc.append(gc_now - round_gc - self.in_transport_gc)
            round_start, round_cpu, round_gc = now, cpu, gc_now
        while pending:
            self._reduce(pending.popleft())
        self.wall_s += time.perf_counter() - t0
        if outcome == "failed":
            self._raise_failures(self.failure, self._gather_failures(), during="the run")
        if outcome == "deadlock":
            self._raise_deadlock()
        if outcome == "horizon":
            latency, label = self.model.shortest_link
            raise ModelError(horizon_message(label, latency, self.G) + " (run() without until)")
        if outcome == "disagree":
            self.ended = self._disagreement()
            raise self.ended
        if settling:
            return []
        if until is not None:
            for lp in self.lps:
                lp.env.advance_to(horizon)
        return self._report()

    def _disagreement(self) -> ModelError:
        """Collective: the error of ranks at different steps, each step once with its ranks."""
        steps: dict[str, list[int]] = {}
        for rank, data in enumerate(self.transport.allgather(encode(self.step))):
            steps.setdefault(decode(data), []).append(rank)
        where = "; ".join(f"{_ranks(ranks)}: {step}" for step, ranks in steps.items())
        error = ModelError(
            f"the ranks' scripts disagree: {where}; every rank must start the same runs (e.g. the same "
            "torch.multiprocessing.spawn calls, with the same nprocs)"
        )
        error.reported_by = 0
        return error

    def settle(self, exc: BaseException | None) -> None:
        """Collective: tell every rank whether this rank's code outside the simulation failed (``exc``).

        Runs as a failed rank when ``exc`` is given, so a rank that failed before it reached a run the others are
        in ends that run for them (with `RemoteError`) instead of leaving them waiting. Raises ``exc``, or
        `RemoteError` when only another rank failed; returns when none did.
        """
        if exc is not None and self.failure is None and self.ended is None:
            self.failure = Failure(self.rank, None, exc)
        self.run(None, None, settling=True, step="the end of its script (Simulation.settle)")

    def record_failure(self, exc: Exception, lp: LP | None) -> None:
        """Model code raised: remember it; the next reduction tells every rank."""
        if isinstance(exc, WorkerFailure):
            self.failure = Failure(self.rank, exc.worker.lp.name, exc.exc)
        else:
            self.failure = Failure(self.rank, lp.name if lp else "?", exc)

    def _snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """This rank's part of the round's reduction: the earliest time anything here can still happen (the
        outboxes are empty after the exchange) and the counts that decide the outcome."""
        next_time = min((lp.next_time() for lp in self.lps), default=INF)
        blocked = len(self.workers.blocked())
        sums = [
            1 if self.failure else 0,
            blocked,
            self.events,
            self.remote_sent - self.remote_received,
            len(self.workers.workers) - blocked,
        ]
        step = self.step_key  # the smallest and (negated) the largest over the ranks: equal when all agree
        return np.array([next_time, step, -step]), np.array(sums, dtype=float)

    def in_transport_call(self, call: Callable[..., T], *args: Any) -> tuple[T, float]:
        """``call(*args)`` to the transport, its wall, CPU and collector time booked as this round's time inside
        the transport (not busy: `round_busy`); returns its result and the wall seconds it took."""
        t, c, g = time.perf_counter(), time.process_time(), gc_seconds()
        result = call(*args)
        waited = time.perf_counter() - t
        self.in_transport += waited
        self.in_transport_cpu += time.process_time() - c
        self.in_transport_gc += gc_seconds() - g
        return result, waited

    def _reduce_start(self, snapshot: tuple[np.ndarray, np.ndarray]) -> Any:
        return self.in_transport_call(self.transport.reduce_start, *snapshot)[0]

    def _reduce(self, handle: Any) -> tuple[np.ndarray, np.ndarray]:
        result, waited = self.in_transport_call(self.transport.reduce_finish, handle)
        self.reduce_wait_s += waited
        self.reductions += 1
        return result

    def _apply(
        self,
        result: tuple[np.ndarray, np.ndarray],
        until: float | None,
        progress: Callable[[dict], None] | None,
        t0: float,
    ) -> str | None:
        mins, sums = result
        G = float(mins[0])
        failures, blocked, events, in_flight, workers_done = (int(x) for x in sums)
        if in_flight != 0:
            raise RuntimeError(f"pdes invariant broken: {in_flight} messages in flight after a round")
        if G > self.G:
            self.G = G
            np.maximum(self.F, G, out=self.F)
        if progress is not None and self.rank == 0:
            progress(
                {"sim_time": G, "events": events, "wall_s": time.perf_counter() - t0, "workers_done": workers_done}
            )
        if failures:
            return "failed"
        if mins[1] != -mins[2]:
            return "disagree"
        if until is None:
            if G == INF:
                return "deadlock" if blocked else "done"
            # The horizon of a run to quiescence: every rank sees the same G, so all stop together.
            return "horizon" if self.time_limit <= G else None
        return "done" if until <= G else None

    # --- endings --------------------------------------------------------------
    def _gather_failures(self) -> list[dict]:
        mine = self.failure.describe() if self.failure else None
        return [f for f in (decode(b) for b in self.transport.allgather(encode(mine))) if f]

    def _raise_failures(self, failure: Failure | None, failures: list[dict], during: str) -> None:
        if not failures:
            return
        if failure is not None:
            if failure.lp is not None:
                failure.exc.add_note(f"[pdes] raised in LP {failure.lp!r} on rank {failure.rank} during {during}")
            self.ended = failure.exc
            raise failure.exc
        first = failures[0]
        where = ", ".join(Failure.where(f) for f in failures)
        when = "outside the simulation (in the script's own code)" if first["lp"] is None else f"during {during}"
        self.ended = RemoteError(f"{where} failed {when}: {first['type']}: {first['message']}", failures)
        raise self.ended

    def _raise_deadlock(self) -> None:
        finished = {w.name: _encodable(w.value) for w in self.workers.workers if w.done}
        mine = [
            [w.describe() | {"rank": self.rank} for w in self.workers.blocked()],
            [lp.describe() | {"rank": self.rank} for lp in self.lps],
            finished,
        ]
        everyone = [decode(b) for b in self.transport.allgather(encode(mine))]
        blocked = [w for ws, _, _ in everyone for w in ws]
        lps = [lp for _, ls, _ in everyone for lp in ls]
        done = {name: value for _, _, values in everyone for name, value in values.items()}
        lines = [f"simulation deadlock: {len(blocked)} host worker(s) blocked and no event left anywhere"]
        lines += [
            f"  worker {w['worker']!r} (rank {w['rank']}, LP {w['lp']!r}, t={w['now']}) waits on {w['waiting_on']}"
            for w in blocked
        ]
        lines += [
            f"  LP {s['lp']!r} (rank {s['rank']}): t={s['now']}, events={s['events']}, "
            f"queued={s['queued_events']}, pending messages={s['pending_messages']}"
            for s in lps
        ]
        raise SimulationDeadlock("\n".join(lines), blocked, lps, done)

    def counters(self) -> dict:
        """This rank's statistics so far (cumulative over every run of this engine), JSON-ready.

        ``lps``: LPs owned; ``events``; ``rounds``; ``reductions`` (global reductions finished); ``null_msgs``
        (promises sent: a changed clock of a local LP to a neighbour rank); ``remote_msgs_sent`` / ``_received``
        (real messages across ranks); ``sim_time``: the latest clock of a local LP. Seconds: ``wall_s`` (inside
        runs), ``compute_s`` (sweeping LPs, host code included; ``compute_cpu_s``: the CPU time of it, lower when
        other processes took the core), ``exchange_wait_s`` (in the transport's batch
        exchange: sending and waiting for the neighbours), ``reduce_wait_s`` (waiting for global reductions),
        ``blocked_s`` (their sum), ``busy_s`` (the rounds' busy time, `round_busy` summed), ``sync_s_per_round``
        (``blocked_s / rounds``: on MPI the measured cost of a round's synchronization, load imbalance included).
        """
        return {
            "rank": self.rank,
            "lps": len(self.lps),
            "events": self.events,
            "rounds": self.rounds,
            "reductions": self.reductions,
            "null_msgs": self.null_msgs,
            "remote_msgs_sent": self.remote_sent,
            "remote_msgs_received": self.remote_received,
            "sim_time": max((lp.now for lp in self.lps), default=0.0),
            "wall_s": self.wall_s,
            "compute_s": self.compute_s,
            "compute_cpu_s": self.compute_cpu_s,
            "exchange_wait_s": self.exchange_wait_s,
            "reduce_wait_s": self.reduce_wait_s,
            "blocked_s": self.blocked_s,
            "busy_s": math.fsum(self.round_busy),
            "sync_s_per_round": self.blocked_s / self.rounds if self.rounds else 0.0,
        }

    def lp_counters(self) -> dict:
        """Per local LP: rank, events, messages sent and received (cumulative over runs)."""
        return {
            lp.name: {"rank": self.rank, "events": lp.events, "sent": lp.sent, "received": lp.received}
            for lp in self.lps
        }

    def gather_counters(self) -> list[bytes]:
        """Collective: every rank's (`counters`, `lp_counters`), in rank order, each encoded."""
        return self.transport.allgather(encode([self.counters(), self.lp_counters()]))

    def gather_states(self, fn: Callable) -> list[dict] | None:
        """Collective: ``{lp index: fn(lp.state)}`` of every rank's LPs, in rank order, on rank 0 (None on the
        others: only rank 0 writes what is gathered, so the others need not hold every rank's part)."""
        mine = {lp.index: fn(lp.state) for lp in self.lps}
        parts = self.transport.gather(encode(mine))
        return None if parts is None else [decode(b) for b in parts]

    def _report(self) -> list[bytes]:
        """Every rank's encoded results; making this rank's is work of its last round (`round_busy`)."""
        t, c = time.perf_counter(), time.process_time()
        reports = {}
        for lp in self.lps:
            spec = self.model.lps[lp.index]
            reports[lp.index] = spec.report(lp.state) if spec.report else None
        rank_stats = self.counters()
        lp_stats = self.lp_counters()
        values = {w.name: w.value for w in self.workers.workers if w.done}
        try:
            mine = ["ok", encode([reports, rank_stats, lp_stats, values])]
        except TypeError as exc:
            mine = ["error", f"rank {self.rank}: an LP report or a worker's return value cannot be encoded: {exc}"]
        spent = time.perf_counter() - t
        self.round_busy[-1] += spent
        self.wall_s += spent  # the report is part of the run, so a run's busy time stays within its wall time
        self.round_cpu[-1] += time.process_time() - c
        everyone = [decode(b) for b in self.transport.allgather(encode(mine))]
        errors = [msg for status, msg in everyone if status == "error"]
        if errors:
            raise ModelError("; ".join(errors))
        return [data for _, data in everyone]


def diameter(graph: dict[int, set[int]]) -> int:
    """The longest shortest path of ``graph`` (rank -> neighbour ranks), by a double sweep: a breadth-first search
    from the lowest rank, then one from the rank farthest from it (exact on rings, tori and trees; otherwise at
    least half the true diameter). The same on every rank: every rank holds the whole link table. 0 when empty."""
    if not graph:
        return 0

    def farthest(start: int) -> tuple[int, int]:
        seen, frontier, depth = {start}, [start], 0
        last = start
        while True:
            nxt = sorted({n for r in frontier for n in graph.get(r, ()) if n not in seen})
            if not nxt:
                return last, depth
            seen.update(nxt)
            frontier, depth, last = nxt, depth + 1, nxt[-1]

    end, _ = farthest(min(graph))
    return farthest(end)[1]


def _step_key(step: str) -> float:
    """A number for ``step`` that a float holds exactly (48 bits of its hash), for the min reduction."""
    return float(int.from_bytes(hashlib.sha256(step.encode()).digest()[:6], "little"))


def _lp_names(lps: list[LP]) -> str:
    """``LPs sip1, sip3``, or ``8 LPs: sip1, sip3, sip5, ...``."""
    names = [lp.name for lp in lps]
    if not names:
        return "no LPs"
    if len(names) <= 3:
        return "LP " + ", ".join(names) if len(names) == 1 else "LPs " + ", ".join(names)
    return f"{len(names)} LPs: {', '.join(names[:3])}, ..."


def _ranks(ranks: list[int]) -> str:
    """``rank 1``, ``ranks 0, 2, 3``."""
    return f"rank {ranks[0]}" if len(ranks) == 1 else "ranks " + ", ".join(map(str, ranks))


def _encodable(value: Any) -> Any:
    """``value``, or its ``repr`` when msgpack cannot carry it (for a deadlock report, not a result)."""
    try:
        encode(value)
    except CodecError:
        return repr(value)
    return value


memory.label(RankEngine.build, lambda f: f"building {f['lp'].name}" if "lp" in f else "building the model")
memory.label(RankEngine.run, lambda f: f"synchronizing rank {f['self'].rank} ({_lp_names(f['self'].lps)})")
memory.label(RankEngine._report, lambda f: f"gathering rank {f['self'].rank}'s results")
