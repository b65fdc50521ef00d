"""Synchronization figures and the projection of a run's wall time onto K cores (docs/adr/0014-projection.md).

**Coupling figure lambda.** For a run on K ranks with smallest link latency (lookahead) ``L`` that covered
simulated time ``T`` (the latest LP clock at the end) and processed ``E_r`` events on rank ``r`` in ``C_r``
CPU seconds of sweeping (``compute_cpu_s``: CPU time, so that other processes on a shared machine do not inflate
the cost of an event)::

    windows       W   = T / L                       lookahead windows in the simulated span
    lambda_r          = (E_r / W) * (C_r / E_r) / c  = C_r * L / (T * c)
    lambda            = mean over ranks of lambda_r   = sum(C_r) * L / (K * T * c)

that is (events per lookahead window) x (seconds per event) / (seconds per round of synchronization, ``c``):
the work a rank has between two synchronizations that the lookahead forces, in units of one synchronization.
lambda >> 1: the work dwarfs the synchronization and more ranks pay; lambda around 1 or below: a rank spends as
long synchronizing as computing and a K-rank run cannot beat one process by much. ``c`` is `ROUND_COST_S` (a
constant measured on this machine, below), so lambda of a run does not depend on how loaded its peers were.

**Projection.** A run on K *virtual* ranks (one process, the ranks one after another) measures each rank's busy
seconds per round separately (`pdes.engine.RankEngine.round_busy`: the round's wall time less the time inside the
transport, which in one process is the time the other ranks ran). On K cores a rank's round ends when it has swept
and heard from each of its neighbour ranks in that round, and, with a reduction lag ``L``, once the reduction of
round ``k - L`` is complete, i.e. every rank has finished round ``k - L``::

    ready[r][k] = end[r][k-1] + busy[r][k]
    end[r][k]   = max(max over r and its neighbours n of ready[n][k] + c_ex, max over all q of end[q][k-L] + c_red)
    projected_wall_s = serial_s + max_r end[r][last] (starting from end[r][0] = other_r) + start(K)

(`L = 0`: a blocking reduction every round, the window strategy; every rank a neighbour of every other: lockstep
rounds, each as long as its slowest rank.) ``critical_path_s`` is the same longest path with no synchronization
cost; ``sync_s`` what the costs add to it. ``serial_s``: the process's wall time outside its runs and per-rank
work (imports excluded, the command's set-up, host code between runs; inside a run, what is not some rank's round
is the in-process transport, which MPI replaces by ``c_ex`` and ``c_red``); ``other_r``: rank r's work outside
runs (wiring and building its LPs, checking the model; its report is part of its last round); ``c_ex =
ROUND_COST_S``: a round's batch exchange with the neighbours (concurrent); ``c_red = ROUND_COST_S * ceil(log2
K)``: a reduction, once more per doubling of ranks (a recursive-doubling reduction has log2 K steps; assumed, only
2 ranks fit here); ``start(K)``: MPI start-up, `MPI_START_S`, for K > 1. With K = 1 there is no synchronization
to add and the projection is the measured wall less the in-process transport's own time.

**Garbage collection.** Virtual ranks share one heap, so a full collection of every rank's objects lands in one
rank's round as a lump that no MPI rank, collecting its own heap as it allocates, would see. The engine books
collector time per round (``round_gc``); the projection takes it out of the round it landed in and spreads the
run's total over every rank's rounds in proportion to their other busy time (docs/adr/0021).

Re-measure the constants on another machine with ``mpirun -n 2 python -m pdes.calibrate``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence

import numpy as np

__all__ = ["MPI_START_S", "ROUND_COST_S", "coupling", "project", "round_cost", "sync_summary"]

ROUND_COST_S = 2.0e-5
"""One engine round's synchronization between 2 MPI ranks with a core each on this machine (2 cores, MPICH 4 from
pip, not oversubscribed, so without MPICH's yield settings: `pdes.mpich_progress`): a small batch exchanged with
the neighbour plus an overlapped Iallreduce. ``round_cost_s`` of ``mpirun -n 2 python -m pdes.calibrate``:
19.4-19.9 us in 3 runs (0.37 ms with the yield settings on, which every 2-rank run had before they became
per-job: a throttled wait wakes up late). See docs/adr/0014-projection.md and 0016."""

MPI_START_S = 0.13
"""MPI start-up inside a process (``from mpi4py import MPI``, ``COMM_WORLD.Dup()``): 0.11-0.16 s, measured the same
way."""


def round_cost(ranks: int) -> float:
    """``c(K)``: seconds of synchronization per round on ``ranks`` MPI ranks (0 for one rank)."""
    if ranks <= 1:
        return 0.0
    return ROUND_COST_S * math.ceil(math.log2(ranks))


def coupling(compute_s: float, lookahead: float, sim_time: float, cost_s: float) -> float | None:
    """lambda of one rank: ``compute_s * lookahead / (sim_time * cost_s)`` (``compute_s``: CPU seconds of
    sweeping); None without a span or lookahead."""
    if not (sim_time > 0 and math.isfinite(lookahead) and lookahead > 0 and cost_s > 0):
        return None
    return compute_s * lookahead / (sim_time * cost_s)


def sync_summary(ranks: list[dict], lookahead: float, real_msgs: int) -> dict:
    """The synchronization figures of a run from its per-rank statistics (`RankEngine.counters`).

    ``rounds`` (every rank runs the same rounds), ``events`` and each rank's ``events_share``, ``null_msgs``,
    ``real_msgs`` (every LP's sends, local ones included) and ``remote_msgs`` (those that crossed ranks),
    ``blocked_fraction`` (synchronization wait over wall time, summed over ranks), ``lookahead``, ``sim_time``,
    ``round_cost_s`` (`ROUND_COST_S`, what lambda divides by), ``sync_s_per_round`` (measured: blocked seconds per
    round, the slowest rank's) and ``lambda`` (the mean of the ranks' ``lambda``, see the module docstring).
    """
    events = sum(r["events"] for r in ranks)
    wall = sum(r["wall_s"] for r in ranks)
    sim_time = max((r["sim_time"] for r in ranks), default=0.0)
    lambdas = [coupling(r["compute_cpu_s"], lookahead, sim_time, ROUND_COST_S) for r in ranks]
    known = [x for x in lambdas if x is not None]
    return {
        "ranks": len(ranks),
        "rounds": max((r["rounds"] for r in ranks), default=0),
        "events": events,
        "events_share": [r["events"] / events if events else 0.0 for r in ranks],
        "null_msgs": sum(r["null_msgs"] for r in ranks),
        "real_msgs": real_msgs,
        "remote_msgs": sum(r["remote_msgs_sent"] for r in ranks),
        "blocked_fraction": sum(r["blocked_s"] for r in ranks) / wall if wall > 0 else 0.0,
        "lookahead": lookahead if math.isfinite(lookahead) else None,
        "sim_time": sim_time,
        "round_cost_s": ROUND_COST_S,
        "sync_s_per_round": max((r["sync_s_per_round"] for r in ranks), default=0.0),
        "lambda": statistics.fmean(known) if known and len(known) == len(lambdas) else None,
        "lambda_by_rank": lambdas,
    }


def project(
    busy: Sequence[Sequence[float]],
    other: Sequence[float],
    wall_s: float,
    cpu: Sequence[Sequence[float]] | None = None,
    *,
    runs_wall_s: float | None = None,
    neighbours: Sequence[Sequence[int]] | None = None,
    lag: int = 1,
    gc: Sequence[Sequence[float]] | None = None,
    serial_cpu_s: float | None = None,
    other_cpu: Sequence[float] | None = None,
) -> dict:
    """The wall time of a K virtual-rank run projected onto K ranks on K cores (module docstring).

    ``busy[r][k]``: rank r's busy seconds in round k; ``other[r]``: its work outside rounds; ``wall_s``: the
    measured wall time of the whole virtual-rank run (the same span the projection stands for). ``cpu[r][k]``: the
    same busy time in CPU seconds, for ``projected_cpu_s``: the projection from CPU time, i.e. on K cores that
    nothing else uses (on a shared machine the wall-clock busy time includes the time other processes held the
    core). ``neighbours[r]``: the ranks rank r exchanges with each round (default: every other rank, lockstep);
    ``lag``: the reduction lag (`pdes.sync.RankSync.reduction_lag`); ``gc[r][k]``: the collector's part of
    ``busy[r][k]``, spread over the ranks (module docstring). ``runs_wall_s``: the wall time inside the runs,
    when known: in one process everything inside them is some rank's round or the in-process transport between
    them, which MPI ranks replace by their exchanges and reductions (``c_ex``, ``c_red``); only the rest of
    ``wall_s`` is serial. Without it, everything but the busy time is. ``serial_cpu_s`` and ``other_cpu[r]``: the
    serial part and each rank's work outside runs in CPU seconds, for ``projected_cpu_s`` (default: the wall-clock
    ones).
    """
    ranks = len(busy)
    rounds = len(busy[0]) if busy else 0
    if any(len(b) != rounds for b in busy):
        raise ValueError(f"ranks ran different numbers of rounds: {[len(b) for b in busy]}")
    wall = _spread_gc(np.array(busy, dtype=float).reshape(ranks, rounds), gc)
    total_busy = float(wall.sum()) + math.fsum(other)
    inside = float(wall.sum()) if runs_wall_s is None else runs_wall_s
    serial = max(0.0, wall_s - inside - math.fsum(other))
    start = MPI_START_S if ranks > 1 else 0.0
    per_rank = max(other, default=0.0)
    nbr = _neighbour_table(ranks, neighbours)
    c_ex, c_red = (ROUND_COST_S, round_cost(ranks)) if ranks > 1 else (0.0, 0.0)
    origin = np.array(other, dtype=float)
    critical = _longest_path(wall, np.zeros(ranks), nbr, lag, 0.0, 0.0)
    timed = _longest_path(wall, origin, nbr, lag, c_ex, c_red)
    sync = max(0.0, timed - _longest_path(wall, origin, nbr, lag, 0.0, 0.0))
    projected = serial + timed + start
    projected_cpu = critical_cpu = None
    if cpu:
        cpu_busy = _spread_gc(np.array(cpu, dtype=float).reshape(ranks, rounds), gc)
        critical_cpu = _longest_path(cpu_busy, np.zeros(ranks), nbr, lag, 0.0, 0.0)
        origin_cpu = origin if other_cpu is None else np.array(other_cpu, dtype=float)
        serial_cpu = serial if serial_cpu_s is None else serial_cpu_s
        projected_cpu = serial_cpu + _longest_path(cpu_busy, origin_cpu, nbr, lag, c_ex, c_red) + start
    return {
        "ranks": ranks,
        "rounds": rounds,
        "reduction_lag": lag,
        "measured_wall_s": wall_s,
        "serial_s": serial,
        "per_rank_other_s": per_rank,
        "critical_path_s": critical,
        "busy_s": total_busy,
        "gc_s": float(np.sum(gc)) if gc is not None and rounds else 0.0,
        "sync_s": sync,
        "start_s": start,
        "round_cost_s": c_ex,
        "reduction_cost_s": c_red,
        "projected_wall_s": projected,
        "critical_path_cpu_s": critical_cpu,
        "projected_cpu_s": projected_cpu,
        "balance": total_busy / (ranks * (critical + per_rank)) if critical + per_rank > 0 else 1.0,
        "speedup": wall_s / projected if projected > 0 else None,
    }


def _spread_gc(busy: np.ndarray, gc: Sequence[Sequence[float]] | None) -> np.ndarray:
    """``busy`` with each round's collector time taken out and the total given back in proportion to the rest."""
    if gc is None or busy.size == 0:
        return busy
    rest = np.maximum(busy - np.array(gc, dtype=float).reshape(busy.shape), 0.0)
    kept = rest.sum()
    return rest * (busy.sum() / kept) if kept > 0 else busy


def _neighbour_table(ranks: int, neighbours: Sequence[Sequence[int]] | None) -> np.ndarray:
    """Row r: rank r and the ranks it hears from, padded with r (every rank when ``neighbours`` is None)."""
    if neighbours is None:
        return np.tile(np.arange(ranks), (ranks, 1))
    width = 1 + max((len(n) for n in neighbours), default=0)
    return np.array([[r, *n] + [r] * (width - 1 - len(n)) for r, n in enumerate(neighbours)], dtype=np.int64)


def _longest_path(
    busy: np.ndarray, origin: np.ndarray, nbr: np.ndarray, lag: int, exchange_s: float, reduce_s: float
) -> float:
    """When the last rank ends its last round, each rank starting at ``origin`` (module docstring)."""
    end = origin.copy()
    finished: list[float] = []  # per round: when its last rank ended it, so its reduction can complete
    for k in range(busy.shape[1]):
        ready = end + busy[:, k]
        end = ready[nbr].max(axis=1) + exchange_s
        if lag == 0:
            end[:] = end.max() + reduce_s
        elif k >= lag:
            np.maximum(end, finished[k - lag] + reduce_s, out=end)
        finished.append(float(end.max()))
    return float(end.max()) if len(end) else 0.0


# --- calibration ----------------------------------------------------------------------------------------------


WAIT_WORK_S = 1e-3
"""Calibration: the work one rank does per round while the other waits for it (the usual case in a run)."""


def calibrate(rounds: int = 2000, blocks: int = 10) -> dict:
    """Under ``mpirun -n 2``: the per-round cost of the engine's synchronization, with no model work.

    Times MPI start-up, then ``blocks`` blocks of ``rounds // blocks`` engine-like rounds (a msgpack batch of a few
    promises to the other rank and back, an Iallreduce of the snapshot's shape overlapped with the next round),
    then as many blocking reductions alone. Returns medians over blocks (every rank agrees: rank 0's figures).
    """
    import numpy as np

    from .codec import decode, encode

    t0 = time.perf_counter()
    from .mpi import MpiTransport

    transport = MpiTransport()
    start_s = time.perf_counter() - t0
    if transport.size < 2:
        raise SystemExit("python -m pdes.calibrate: run it under mpirun -n 2")
    peers = [r for r in range(transport.size) if r != transport.rank]
    mins, sums = np.array([1.0]), np.zeros(6)
    per_block = max(1, rounds // blocks)

    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    def engine_rounds(n: int, work_s: float = 0.0) -> float:
        """Seconds per round beyond ``work_s``, which one rank (in turn) burns per round while the other waits."""
        pending = None
        t = time.perf_counter()
        for k in range(n):
            if work_s and k % transport.size == transport.rank:
                spin(work_s)
            incoming = transport.exchange({p: encode([[(k, float(k))], []]) for p in peers}, peers)
            for data in incoming.values():
                decode(data)
            if pending is not None:
                transport.reduce_finish(pending)
            pending = transport.reduce_start(mins, sums)
        if pending is not None:
            transport.reduce_finish(pending)
        return (time.perf_counter() - t) / n - work_s

    def reductions(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            transport.reduce_finish(transport.reduce_start(mins, sums))
        return (time.perf_counter() - t) / n

    engine_rounds(per_block)  # warm-up
    round_s = [engine_rounds(per_block) for _ in range(blocks)]
    waiting_s = [engine_rounds(per_block // 4, WAIT_WORK_S) for _ in range(blocks)]
    reduce_s = [reductions(per_block) for _ in range(blocks)]
    out = {
        "ranks": transport.size,
        "rounds": per_block * blocks,
        "round_cost_s": statistics.median(round_s),
        "round_cost_min_s": min(round_s),
        "round_cost_waiting_s": statistics.median(waiting_s),
        "reduce_step_s": statistics.median(reduce_s),
        "mpi_start_s": start_s,
    }
    everyone = transport.allgather(encode(out))
    return decode(everyone[0]) | {"mpi_start_s": max(decode(b)["mpi_start_s"] for b in everyone)}
