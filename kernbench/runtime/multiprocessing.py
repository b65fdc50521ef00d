"""``torch.multiprocessing.spawn`` with rank = SIP: one host worker per SIP this process simulates.

Under ``mpirun`` every process runs the same script (SPMD) and ``spawn(fn, nprocs=N)`` calls ``fn(r, *args)``
only for the SIPs ``r`` it owns, each in its own host worker (a greenlet) bound to SIP ``r``; one process alone
owns every SIP. ``spawn`` then runs the simulation until every worker is done. An exception in a worker (or its
``sys.exit``) ends that worker; the others run on, and those that wait for it deadlock. ``spawn`` then raises
`SpawnException` on every process with the same message: the failed ranks and their own exceptions first, the
deadlock they caused as a short note (the outcomes travel with the simulation's results, or with its deadlock
report, so no process is left waiting for a failed one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kernbench.runtime.worker_errors import WorkerError
from pdes import SimulationDeadlock, memory
from pdes.codec import CodecError, encode
from pdes.errors import message_of

if TYPE_CHECKING:
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
        """Each rank's simulated time in its workers over every ``spawn`` so far, (first start, last end) in ns:
        what a bench that spawns took on that SIP (every rank's, on every process; failed workers included)."""
        self.phases: dict[int, list[dict[str, Any]]] = {}
        """Each rank's SIP's runtime trace per phase (`PhaseLog.totals`) when its last worker ended (every rank's,
        on every process: the traces themselves stay on the process that simulates the SIP)."""
        self.spawns = 0
        """``spawn`` calls so far: every process must make the same ones, with the same ``nprocs``."""

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
            return {**outcome, "start_ns": start, "end_ns": engine.now(), "phases": self._ctx.traces[rank].totals()}

        for rank in range(nprocs):
            if engine.is_local(rank):
                engine.spawn(rank, worker, name=f"{WORKER_PREFIX}{rank}")
        self.spawns += 1
        deadlock = None
        try:  # a process that calls spawn differently (another nprocs, one call more) fails every process's
            finished = engine.run(step=f"spawn #{self.spawns} (nprocs={nprocs})").workers
        except SimulationDeadlock as exc:  # perhaps because a worker failed: say that first
            finished, deadlock = exc.finished, exc
        outcomes = {
            int(name.removeprefix(WORKER_PREFIX)): value
            for name, value in finished.items()
            if name.startswith(WORKER_PREFIX)
        }
        for rank, o in outcomes.items():
            first = self.spans.get(rank, (o["start_ns"], 0.0))[0]
            self.spans[rank] = (first, o["end_ns"])
            self.phases[rank] = o["phases"]
        failed = {rank: WorkerError.from_wire(o["error"]) for rank, o in sorted(outcomes.items()) if not o["ok"]}
        if failed:
            errors = {rank: raised[rank] if rank in raised else summary.exception() for rank, summary in failed.items()}
            raise SpawnException(failed, errors, deadlock, engine.rank_of(min(failed))) from None
        if deadlock is not None:
            raise deadlock
        self.results = {rank: o["value"] for rank, o in sorted(outcomes.items())}


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
