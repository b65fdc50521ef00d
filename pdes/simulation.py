"""The user-facing entry point: build a model on every rank, run it, gather results."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import simpy

from .codec import decode
from .engine import RankEngine
from .errors import ModelError, RemoteError
from .lp import LP
from .model import Model
from .partition import PARTITIONS, Partition
from .projection import project, sync_summary
from .transport import LocalWorld, Transport, launched_by_mpi
from .workers import Worker, current_worker

__all__ = ["RunResult", "Simulation", "compose_stats"]


@dataclass
class RunResult:
    """What :meth:`Simulation.run` returns, identical on every rank."""

    results: dict[str, Any]
    """Each LP's report, by LP name, in declaration order."""
    ranks: list[dict] = field(default_factory=list)
    """Per-rank statistics (events, rounds, reductions, null messages, blocked and wall time)."""
    lps: dict[str, dict] = field(default_factory=dict)
    """Per-LP statistics (rank, events, messages sent and received)."""
    workers: dict[str, Any] = field(default_factory=dict)
    """Return values of the host workers that finished, by worker name, from every rank."""
    lookahead: float = math.inf
    """The model's smallest link latency (what the coupling figure lambda is measured against)."""

    @property
    def stats(self) -> dict:
        """Everything in one JSON-ready dict (what ``--stats-json`` writes): `compose_stats`."""
        return compose_stats(self.ranks, self.lps, self.lookahead)


def compose_stats(ranks: list[dict], lps: dict[str, dict], lookahead: float) -> dict:
    """``totals`` (sums over ranks), ``sync`` (`pdes.projection.sync_summary`: rounds, event shares, messages,
    blocked fraction, lambda), ``ranks`` (`RankEngine.counters` of each rank) and ``lps`` (per-LP counters).

    Counts (events, messages, rounds) are the same on every run of the same model and partition, except that a
    round ends early after `pdes.sync.ROUND_BUDGET_S` seconds of sweeping, so ``rounds`` and ``null_msgs`` of
    long runs vary a little; every ``*_s`` field and lambda are wall-clock measurements.
    """
    totals = {k: sum(r[k] for r in ranks) for k in ("events", "rounds", "reductions", "null_msgs", "remote_msgs_sent")}
    totals["real_msgs"] = sum(s["sent"] for s in lps.values())
    totals["ranks"] = len(ranks)
    return {"totals": totals, "sync": sync_summary(ranks, lookahead, totals["real_msgs"]), "ranks": ranks, "lps": lps}


class Simulation:
    """A :class:`Model` partitioned over ranks and ready to run.

    ``transport``: ``"local"`` (in-process; ``ranks`` virtual ranks, default 1),
    ``"mpi"`` (one rank per MPI process), or ``None`` to pick MPI when an MPI
    launcher started the process. ``partition``: a name in `pdes.partition.PARTITIONS`
    (``"blocks"``, the default, ``"round_robin"``, ``"tiles"``), a ``{lp name: rank}``
    mapping or a :class:`Partition`.
    """

    def __init__(
        self,
        model: Model,
        *,
        sync: str = "null",
        partition: str | Mapping[str, int] | Partition | None = None,
        transport: str | Transport | None = None,
        ranks: int | None = None,
    ) -> None:
        self.model = model
        self.sync = sync
        self._world: LocalWorld | None = None
        transports = self._transports(transport, ranks)
        self.size = transports[0].size
        self.rank = transports[0].rank if self._world is None else 0
        self.partition = _partition(partition, model, self.size)
        self._registry: dict = {}
        self.runs_wall_s = 0.0
        """Wall seconds inside runs (settling included): rounds of every rank here, and the transport between
        them (`projection`)."""
        self.runs_cpu_s = 0.0
        self.engines = [RankEngine(model, self.partition, t, sync, self._registry) for t in transports]
        self._on_every_rank(lambda engine: engine.check_build(engine.build()))

    def _transports(self, transport: str | Transport | None, ranks: int | None) -> list[Transport]:
        if transport is None:
            transport = "mpi" if launched_by_mpi() else "local"
        if transport == "local":
            size = 1 if ranks is None else ranks
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"ranks must be an integer >= 1, got {ranks!r}")
            self._world = LocalWorld(size)
            return [self._world.transport(r) for r in range(size)]
        if transport == "mpi":
            from .mpi import MpiTransport

            transport = MpiTransport()
        if isinstance(transport, str):
            raise ValueError(f"transport must be 'local', 'mpi' or a Transport, got {transport!r}")
        if ranks is not None and ranks != transport.size:
            raise ValueError(f"ranks={ranks} but the transport has {transport.size} ranks")
        return [transport]

    def _on_every_rank(self, body: Callable[[RankEngine], Any]) -> Any:
        """Run ``body`` on every engine of this process; raise the root cause if any failed."""
        if self._world is None:
            return body(self.engines[0])
        outcomes = self._world.run([partial(body, e) for e in self.engines])
        errors = [value for ok, value in outcomes if not ok]
        if errors:
            originals = [e for e in errors if not isinstance(e, RemoteError)]
            raise (originals or errors)[0]
        return outcomes[0][1]

    # --- LPs and workers ----------------------------------------------------
    def _engine_of(self, lp_name: str) -> RankEngine:
        rank = self.partition.owner[self.model.index(lp_name)]
        if self._world is not None:
            return self.engines[rank]
        if rank != self.rank:
            raise ModelError(
                f"LP {lp_name!r} lives on rank {rank}, not on this rank ({self.rank}); check sim.is_local(name) first"
            )
        return self.engines[0]

    def is_local(self, lp_name: str) -> bool:
        """Whether this process owns LP ``lp_name``."""
        rank = self.partition.owner[self.model.index(lp_name)]
        return self._world is not None or rank == self.rank

    def lp(self, lp_name: str) -> LP:
        """The local LP object (its ``env``, ``state``, ``rng``)."""
        return self._engine_of(lp_name).by_index[self.model.index(lp_name)]

    def spawn_worker(self, lp_name: str, fn: Callable, *args: Any, name: str | None = None) -> Worker:
        """Run ``fn(lp, *args)`` as a host worker bound to the local LP ``lp_name``."""
        return self._engine_of(lp_name).spawn_worker(self.model.index(lp_name), fn, args, name)

    def current_lp(self) -> LP:
        """From a host worker: the LP it is bound to (so a layer above can route its requests)."""
        return current_worker(self._registry, "current_lp()").lp

    def wait(self, event: simpy.Event) -> Any:
        """From a host worker: block until ``event`` is processed; return its value."""
        worker = current_worker(self._registry)
        return worker.pool.wait(worker, event)

    # --- running ----------------------------------------------------------------
    def run(
        self, until: float | None = None, progress: Callable[[dict], None] | None = None, step: str = "a run"
    ) -> RunResult:
        """Run to simulated time ``until`` (events before it are processed), or to quiescence.

        ``until`` is None or a finite number >= 0. Time must be able to advance over the whole
        run: every link latency must be at least the float spacing at the run's horizon
        (:func:`pdes.model.time_limit`), or ``t + latency == t`` could stall the synchronizer.
        With ``until`` this is checked here, before anything runs (:class:`ModelError` naming
        the link with the smallest latency). A run to quiescence has no horizon known in
        advance: it stops with the same error at the first global reduction whose time
        reaches ``time_limit(smallest latency)``.
        """
        if until is not None:
            if isinstance(until, bool) or not isinstance(until, (int, float)) or not math.isfinite(until) or until < 0:
                raise ValueError(f"until must be a finite number >= 0, or None to run to quiescence; got {until!r}")
            self.model.check_horizon(until)
        t, c = time.perf_counter(), time.process_time()
        encoded = self._on_every_rank(lambda engine: engine.run(until, progress, step=step))
        self.runs_wall_s += time.perf_counter() - t
        self.runs_cpu_s += time.process_time() - c
        parts = [decode(b) for b in encoded]
        names = self.model.lp_names
        results: dict[int, Any] = {}
        ranks, lps, workers = [], {}, {}
        for reports, rank_stats, lp_stats, values in parts:
            results.update({int(i): v for i, v in reports.items()})
            ranks.append(rank_stats)
            lps.update(lp_stats)
            workers.update(values)
        ordered = {names[i]: results[i] for i in sorted(results)}
        return RunResult(
            ordered, ranks, {n: lps[n] for n in names}, dict(sorted(workers.items())), self.model.shortest_link[0]
        )

    # --- statistics ---------------------------------------------------------------
    def stats(self) -> dict:
        """Collective (every rank calls it): the statistics of every run so far, as `RunResult.stats`.

        For a caller that does not hold the `RunResult` of every run (an SPMD script's runs, started by
        ``torch.multiprocessing.spawn``): the counters are cumulative over runs.
        """
        parts = [decode(b) for b in self._on_every_rank(lambda engine: engine.gather_counters())]
        names = self.model.lp_names
        lps = {name: stats for _, by_lp in parts for name, stats in by_lp.items()}
        return compose_stats([r for r, _ in parts], {n: lps[n] for n in names if n in lps}, self.model.shortest_link[0])

    def gather(self, fn: Callable[[Any], Any]) -> dict[str, Any] | None:
        """Collective (every rank calls it): ``fn(state)`` of every LP, computed on the rank that owns it, by LP
        name in declaration order, on rank 0; None on the other MPI ranks (``fn``'s values must be msgpack-able:
        `pdes.codec`). Virtual ranks share this process, so it always gets the result."""
        parts = self._on_every_rank(lambda engine: engine.gather_states(fn))
        if parts is None:
            return None
        values = {int(i): v for part in parts for i, v in part.items()}
        names = self.model.lp_names
        return {names[i]: values[i] for i in sorted(values)}

    def allreduce(self, array: np.ndarray, op: str = "sum") -> np.ndarray:
        """Collective over processes, for host code outside runs (a bench's reference check): the element-wise
        ``"sum"`` or ``"max"`` of every process's ``array``, each computed for the LPs that process holds. Virtual
        ranks share one process, which holds every LP: ``array`` itself. A float sum depends on the order the
        processes are added in: sum integers (fixed point) where the result must not depend on the partition."""
        if op not in ("sum", "max"):
            raise ValueError(f"op must be 'sum' or 'max', got {op!r}")
        array = np.asarray(array)
        if self._world is not None:
            return array.copy()
        transport, none = self.engines[0].transport, np.empty(0)
        if op == "sum":
            return transport.reduce_finish(transport.reduce_start(none, array))[1]
        return -transport.reduce_finish(transport.reduce_start(-array, none))[0]

    def projection(self, wall_s: float, cpu_s: float | None = None) -> dict:
        """The wall time of this process's virtual ranks projected onto as many cores (`pdes.projection.project`).

        ``wall_s``: the measured wall time the projection stands for (from before the model was built, or
        from wherever the caller's own timing starts, to now); ``cpu_s``: the process's CPU time over the same
        span, for the serial part of the projection from CPU time. Only for in-process ranks (``transport="local"``).
        """
        if self._world is None:
            raise ModelError("a projection needs the in-process transport (virtual ranks), not MPI")
        engines = self.engines
        return project(
            [e.round_busy for e in engines],
            [e.other_s for e in engines],
            wall_s,
            [e.round_cpu for e in engines],
            runs_wall_s=self.runs_wall_s,
            neighbours=[e.neighbours for e in engines],
            lag=engines[0].strategy.reduction_lag,
            gc=[e.round_gc for e in engines],
            serial_cpu_s=None
            if cpu_s is None
            else max(0.0, cpu_s - self.runs_cpu_s - sum(e.other_cpu_s for e in engines)),
            other_cpu=[e.other_cpu_s for e in engines],
        )

    def settle(self, failure: BaseException | None = None) -> None:
        """Collective, for SPMD scripts: call it on every rank after the script's own code, with what that code
        raised (or None). Every rank learns whether any rank failed; a rank that failed before it reached a run
        the others are in ends that run for them, instead of leaving them waiting forever.

        Raises ``failure`` here, `RemoteError` on the ranks that did not fail, nothing when no rank failed, and
        the error of an earlier failed run again at once. A rank that settles while another starts a run makes
        both raise `ModelError` (their scripts took different paths).
        """
        t, c = time.perf_counter(), time.process_time()
        try:
            self._on_every_rank(lambda engine: engine.settle(failure))
        finally:
            self.runs_wall_s += time.perf_counter() - t
            self.runs_cpu_s += time.process_time() - c


def _partition(spec: str | Mapping[str, int] | Partition | None, model: Model, size: int) -> Partition:
    n = len(model.lps)
    if isinstance(spec, Partition):
        if spec.size != size or len(spec.owner) != n:
            raise ModelError(
                f"partition is for {len(spec.owner)} LPs on {spec.size} ranks; the run has {n} LPs on {size} ranks"
            )
        return spec
    if spec is None:
        return Partition.blocks(n, size)
    if isinstance(spec, str) and spec in PARTITIONS:
        return PARTITIONS[spec](model, size)
    if isinstance(spec, Mapping):
        return Partition.explicit(model.lp_names, spec, size)
    raise ValueError(f"partition must be one of {tuple(PARTITIONS)}, a mapping or a Partition, got {spec!r}")
