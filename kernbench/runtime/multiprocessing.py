"""``torch.multiprocessing.spawn`` with rank = SIP: one host worker per SIP this process simulates.

Under ``mpirun`` every process runs the same script (SPMD) and ``spawn(fn, nprocs=N)`` calls ``fn(r, *args)``
only for the SIPs ``r`` it owns, each in its own host worker (a greenlet) bound to SIP ``r``; one process alone
owns every SIP. ``spawn`` then runs the simulation until every worker is done. An exception in a worker (or its
``sys.exit``) ends that worker; the others run on, and those that wait for it deadlock. ``spawn`` then raises
`SpawnException` on every process with the same message: the failed ranks and their own exceptions first, the
deadlock they caused as a short note (the outcomes travel with the simulation's results, or with its deadlock
report, so no process is left waiting for a failed one).

In a job of a what-if scenario (`kernbench.runtime.jobs`) rank r runs on the job's SIP ``r``, and the simulation
that ``spawn`` waits for is one the job shares with the others running at the same time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kernbench.runtime.worker_errors import WorkerError
from pdes import SimulationDeadlock, memory
from pdes.codec import CodecError, encode
from pdes.errors import message_of

if TYPE_CHECKING:
    from kernbench.engine import Engine
    from kernbench.runtime.context import RuntimeContext

WORKER_PREFIX = "spawn/rank"


class SpawnException(Exception):
    """Spawned workers failed.

    ``errors`` maps each failed rank to its exception: the original on the process that ran it, else a
    `RemoteWorkerError` re-created from its `WorkerError` (``summaries`` holds those of every failed rank, with
    the remote traceback text). ``deadlock``: the `SimulationDeadlock` of the workers that waited for a failed
    one, or None. ``reported_by``: the MPI rank that ran the first failed worker; under mpirun it alone prints
    this error when nothing catches it.
    """

    def __init__(
        self,
        summaries: dict[int, WorkerError],
        errors: dict[int, BaseException],
        deadlock: SimulationDeadlock | None,
        reported_by: int,
    ) -> None:
        failed = "; ".join(f"rank {rank} failed: {s.headline()}" for rank, s in sorted(summaries.items()))
        super().__init__(failed + (_deadlock_note(deadlock) if deadlock is not None else ""))
        self.summaries = summaries
        self.errors = errors
        self.deadlock = deadlock
        self.reported_by = reported_by
        first = summaries[min(summaries)]
        self.add_note(f"rank {first.rank}'s traceback (most recent call last):\n{first.stack.rstrip()}")


def _deadlock_note(deadlock: SimulationDeadlock) -> str:
    """``; then rank 0 deadlocked waiting ...``: which workers were left waiting, in one short clause."""
    waiting = [w["worker"].removeprefix(WORKER_PREFIX) for w in deadlock.blocked]
    who = ", ".join(f"rank {w}" if w.isdigit() else w for w in waiting)
    return f"; {who} then deadlocked waiting (dump: SpawnException.deadlock)"


class Multiprocessing:
    """``torch.multiprocessing`` of one process."""

    SpawnException = SpawnException

    def __init__(self, ctx: RuntimeContext) -> None:
        self._ctx = ctx
        self.results: dict[int, Any] = {}
        """What each rank's ``fn`` returned in the last ``spawn`` (every rank's, on every process)."""
        self.spans: dict[int, tuple[float, float]] = {}
        """Each rank's simulated time in its workers over every ``spawn`` so far, (first start, last end) in ns, by
        its SIP: what a bench that spawns took on that SIP (every rank's, on every process; failed workers
        included)."""
        self.phases: dict[int, list[dict[str, Any]]] = {}
        """Each rank's SIP's runtime trace per phase (`PhaseLog.totals`) when its last worker ended, by SIP (every
        rank's, on every process: the traces themselves stay on the process that simulates the SIP)."""
        self.spawns = 0
        """``spawn`` calls so far: every process must make the same ones, with the same ``nprocs``."""

    def spawn(self, fn: Callable[..., Any], args: tuple = (), nprocs: int | None = None, join: bool = True) -> None:
        """Run ``fn(rank, *args)`` for ranks ``0..nprocs-1`` (default: every SIP, or the job's) and simulate until
        all finish."""
        engine = self._ctx.engine
        world = self._ctx.job or tuple(range(self._ctx.topo.sip_count))  # rank r runs on SIP world[r]
        nprocs = len(world) if nprocs is None else int(nprocs)
        if not 1 <= nprocs <= len(world):
            raise ValueError(f"spawn: nprocs must be 1..{len(world)} (rank = SIP), got {nprocs}")
        if not join:
            raise ValueError("spawn: join=False is not supported (the simulation runs inside spawn)")
        if _inside_host_code(self._ctx):
            raise RuntimeError(
                "spawn: call it from the top level of the script (every process runs it), not from "
                "host code that is already running on a SIP"
            )
        raised: dict[int, BaseException] = {}

        def worker(rank: int) -> dict[str, Any]:
            start = engine.now()
            try:
                outcome = {"ok": True, "value": _travelling(rank, fn(rank, *args))}
            except (Exception, SystemExit) as exc:  # a worker's sys.exit ends the worker, not the job
                memory.check(exc)
                raised[rank] = exc
                outcome = {"ok": False, "error": WorkerError.of(rank, exc).to_wire()}
            phases = self._ctx.traces[world[rank]].totals()
            return {**outcome, "start_ns": start, "end_ns": engine.now(), "phases": phases}

        jobs = self._ctx.jobs
        prefix = WORKER_PREFIX if jobs is None else jobs.worker_prefix(self._ctx)
        for rank in range(nprocs):
            if engine.is_local(world[rank]):
                engine.spawn(world[rank], lambda _sip, r=rank: worker(r), name=f"{prefix}{rank}")
        self.spawns += 1
        # a process that calls spawn differently (another nprocs, one call more) fails every process's run
        step = f"spawn #{self.spawns} (nprocs={nprocs})"
        finished, deadlock = run_workers(engine, step) if jobs is None else jobs.simulate(self._ctx, step)
        outcomes = {
            int(name.removeprefix(prefix)): value for name, value in finished.items() if name.startswith(prefix)
        }
        for rank, o in outcomes.items():
            first = self.spans.get(world[rank], (o["start_ns"], 0.0))[0]
            self.spans[world[rank]] = (first, o["end_ns"])
            self.phases[world[rank]] = o["phases"]
        failed = {rank: WorkerError.from_wire(o["error"]) for rank, o in sorted(outcomes.items()) if not o["ok"]}
        if failed:
            errors = {rank: raised[rank] if rank in raised else summary.exception() for rank, summary in failed.items()}
            raise SpawnException(failed, errors, deadlock, engine.rank_of(world[min(failed)])) from None
        if deadlock is not None and len(outcomes) < nprocs:  # some of these ranks were left waiting
            raise deadlock
        self.results = {rank: o["value"] for rank, o in sorted(outcomes.items())}


def run_workers(engine: Engine, step: str) -> tuple[dict[str, Any], SimulationDeadlock | None]:
    """Simulate until every host worker is done: each one's value by name, and the deadlock that ended the run
    instead (perhaps because a worker failed: the caller says that first)."""
    try:
        return engine.run(step=step).workers, None
    except SimulationDeadlock as exc:
        return exc.finished, exc


def _travelling(rank: int, value: Any) -> Any:
    """``value`` when it can go to every process (msgpack, `pdes.codec`); else a `CodecError` of this worker."""
    try:
        encode(value)
    except CodecError as exc:
        raise CodecError(f"rank {rank}'s return value cannot be sent between processes: {message_of(exc)}") from None
    return value


def _inside_host_code(ctx: RuntimeContext) -> bool:
    try:
        ctx.engine.sim.current_lp()
    except RuntimeError:
        return False
    return True
