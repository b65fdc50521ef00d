"""The sweep `kernbench ccl-perf` runs: one collective on growing buffers, timed in the simulation and checked
against numpy at every size, measured as nccl-tests measures (plain dict rows, no printing).

nccl-tests' definitions (its doc/PERFORMANCE.md): ``size`` is the bytes of the full array each rank holds (the
input of reduce-scatter, the output of all-gather, the buffer of all-reduce, broadcast and all-to-all) and
``count`` the element count handed to the collective (per rank for all-gather and reduce-scatter); ``algbw = size
/ time``; ``busbw = algbw x factor``, the factor that makes busbw comparable with one link's bandwidth whatever the
rank count ``n``: ``2(n-1)/n`` for all-reduce, ``(n-1)/n`` for all-gather, reduce-scatter and all-to-all, 1 for
broadcast. Every
call is timed from the release of the barrier before it: from the instant the last rank leaves it (ranks that
arrive together leave together; after an uneven previous call they leave within ``release_skew_us`` of each
other). ``time`` is until the slowest rank is done, and ``time_min_us`` / ``time_avg_us`` / ``time_max_us`` spread
the ranks' ends (nccl-tests' ``-a`` choices). ``#wrong`` counts the elements, summed over ranks, that differ from
numpy's result.

The whole sweep is one ``spawn``: every rank joins the process group once and loops over the sizes, allocating,
filling, timing, checking and freeing its buffers, so the engine and the IPCQ queues are set up once per algorithm.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernbench.ccl import CclConfig, world_size_of
from kernbench.ccl.model import reference_ns
from kernbench.cli.labels import count
from kernbench.cli.memory_needs import size_text
from kernbench.engine import Engine
from kernbench.kernels import itemsize
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.runtime.groups import ProcessGroup
from pdes.transport import launcher_size


class CclPerfError(ValueError):
    """A sweep that cannot run (bad size, an option the op does not take): one line for the user, exit 2."""


@dataclass(frozen=True)
class Op:
    """A collective as nccl-tests reports it."""

    name: str
    redop: str  # "sum", or "none" for the ops that only move data
    per_rank_count: bool  # count is each rank's share of size (all-gather, reduce-scatter)
    bus_factor: Callable[[int], float]
    split: bool = False  # size splits evenly over the ranks, count the whole (all-to-all)


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("all_reduce", "sum", False, lambda n: 2 * (n - 1) / n),
        Op("all_gather", "none", True, lambda n: (n - 1) / n),
        Op("reduce_scatter", "sum", True, lambda n: (n - 1) / n),
        Op("broadcast", "none", False, lambda _n: 1.0),
        Op("all_to_all", "none", False, lambda n: (n - 1) / n, split=True),
    )
}

DTYPES = {"f32": 1 << 24, "f16": 1 << 11, "bf16": 1 << 8, "i32": 1 << 31}
"""The element types the sweep offers, each with the largest integer up to which it holds every integer exactly."""

LEADER_ONLY = DPPolicy(num_cubes=1, num_pes=1)
"""Where the ring collectives other than all-reduce want their buffers: cube 0, PE 0 (`Distributed`)."""

_SIZE = re.compile(r"(\d+)([KMG]?)", re.IGNORECASE)


def parse_size(text: str, option: str) -> int:
    """``8``, ``64K``, ``64M``, ``1G`` -> bytes (powers of 1024, as nccl-tests reads them)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match.group(1)) < 1:
        raise CclPerfError(f"{option} {text}: expected a byte count >= 1, optionally with K, M or G (e.g. 64M)")
    return int(match.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[match.group(2).upper()]


def sweep_sizes(min_bytes: int, max_bytes: int, factor: int) -> list[int]:
    """min, min x factor, ... up to max (nccl-tests' ``-b -e -f``)."""
    if min_bytes > max_bytes:
        raise CclPerfError(f"--min-bytes {min_bytes} is larger than --max-bytes {max_bytes}")
    if factor < 2:
        raise CclPerfError(f"--factor {factor}: expected an integer >= 2")
    sizes = [min_bytes]
    while sizes[-1] * factor <= max_bytes:
        sizes.append(sizes[-1] * factor)
    return sizes


def sweep_memory(op: str, size: int, dtype: str, world: int) -> tuple[int, str]:
    """A lower bound of the bytes the sweep's largest ``size`` needs in this process, and what holds them: every
    rank this process simulates holds a buffer of ``size`` bytes, and checking one rank's result computes numpy's
    float64 reference of the whole array (`kernbench.cli.memory_needs`)."""
    local = -(-world // launcher_size())
    reference = 8 * (size // itemsize(dtype))
    need = local * size + reference
    return need, (
        f"{op} of {size_text(size)} on {count(world, 'rank')}: {count(local, 'rank')} in this process, each with a "
        f"{size_text(size)} buffer, and numpy's float64 reference ({size_text(reference)})"
    )


@dataclass(frozen=True)
class Point:
    """One size of the sweep: ``count`` elements per call (nccl-tests' count) on ``world`` ranks."""

    size: int
    count: int


def _unit(op: Op, world: int, shards: int) -> int:
    """The elements a size is a multiple of: one per rank (all-gather, reduce-scatter, all-to-all) or per shard."""
    return world if op.per_rank_count or op.split else shards


def smallest(op: Op, dtype: str, world: int, shards: int) -> Point:
    """The smallest size ``op`` can run (the warm-up call's: first-use set-up does not depend on the size)."""
    return points(op, [_unit(op, world, shards) * itemsize(dtype)], dtype, world, shards)[0]


def points(op: Op, sizes: list[int], dtype: str, world: int, shards: int) -> list[Point]:
    """The sizes as nccl-tests rounds them: down to whole elements, per rank for all-gather and reduce-scatter,
    for all-reduce to a multiple of the algorithm's shards (one per participating PE), for all-to-all of the ranks
    (``shards``: the world, one chunk each); sizes that round to
    nothing are left out (a `CclPerfError` when none is left)."""
    item = itemsize(dtype)
    unit = _unit(op, world, shards)
    out: list[Point] = []
    for size in sizes:
        elements = size // item // unit * unit
        count = elements // world if op.per_rank_count else elements
        if count and (not out or elements * item > out[-1].size):
            out.append(Point(elements * item, count))
    if not out:
        raise CclPerfError(
            f"--max-bytes {sizes[-1]}: too small for one {dtype} element "
            f"{'per rank' if op.per_rank_count or op.split else 'per shard'} ({unit * item} bytes)"
        )
    return out


def rank_values(rank: int, n: int, dtype: str, world: int, start: int = 0) -> np.ndarray:
    """Small integers, different per rank and element (elements ``start .. start + n``), whose sum over ``world``
    ranks is exact in ``dtype`` in any order, so a check can demand equality."""
    top = _top(dtype, world)
    return ((np.arange(start, start + n, dtype=np.int64) * 7 + rank * 3) % top).astype(np.float64)


def _top(dtype: str, world: int) -> int:
    return max(2, min(17, DTYPES[dtype] // world))


def rank_sums(n: int, dtype: str, world: int, start: int = 0) -> np.ndarray:
    """The sum over ranks of `rank_values` (elements ``start .. start + n``), in closed form: element ``i`` of rank
    ``r`` is ``(7i + 3r) % top``, so the sum depends on ``7i % top`` alone (``top`` sums to make, not ``world``
    arrays of ``n``: a check that built every rank's input would cost every rank ``world x n``)."""
    top = _top(dtype, world)
    per_residue = np.array([sum((c + 3 * r) % top for r in range(world)) for c in range(top)], dtype=np.float64)
    return per_residue[(np.arange(start, start + n, dtype=np.int64) * 7) % top]


def expected(op: str, rank: int, world: int, point: Point, dtype: str, root: int, across_pes: int) -> np.ndarray:
    """What rank ``rank``'s output holds after the collective: numpy's answer, from every rank's inputs.
    ``across_pes``: the shards of an all-reduce whose algorithm reduces across PEs too (1 when it does not)."""
    n = point.count
    if op == "broadcast":
        return rank_values(root, n, dtype, world)
    if op == "all_to_all":  # chunk ``rank`` of every rank's input, in rank order
        chunk = n // world
        return np.concatenate([rank_values(r, chunk, dtype, world, start=rank * chunk) for r in range(world)])
    if op == "all_gather":
        return np.concatenate([rank_values(r, n, dtype, world) for r in range(world)])
    if op == "reduce_scatter":
        return rank_sums(n, dtype, world, start=rank * n)
    total = rank_sums(n, dtype, world)
    if across_pes > 1:
        return np.tile(total.reshape(across_pes, -1).sum(axis=0), across_pes)
    return total


def _call(
    torch: RuntimeContext, op: str, rank: int, point: Point, dtype: str, root: int, group: ProcessGroup | None
) -> tuple[float, float, np.ndarray]:
    """Fill this rank's buffers, run the collective once after a barrier of its group; when this rank left the
    barrier and when the collective was done here (simulated ns), and the output. ``rank``: in the group."""
    dist = torch.distributed
    n, world = point.count, dist.get_world_size(group)
    mine = rank_values(rank, n * (world if op == "reduce_scatter" else 1), dtype, world)
    policy = dist.shard_policy() if op == "all_reduce" and group is None else LEADER_ONLY
    buf = torch.zeros((mine.size,), dtype, dp=policy, name="input")
    buf.copy_(mine)
    out = buf
    if op in ("all_gather", "reduce_scatter", "all_to_all"):
        size = {"all_gather": n * world, "reduce_scatter": n, "all_to_all": n}[op]
        out = torch.zeros((size,), dtype, dp=LEADER_ONLY, name="output")
    dist.barrier(group=group)
    start = torch.engine.now()
    if op == "all_reduce":
        dist.all_reduce(buf, group=group)
    elif op == "broadcast":
        dist.broadcast(buf, group=group, group_src=root)
    elif op == "all_gather":
        dist.all_gather_into_tensor(out, buf, group=group)
    elif op == "reduce_scatter":
        dist.reduce_scatter_tensor(out, buf, group=group)
    else:
        dist.all_to_all_single(out, buf, group=group)
    end = torch.engine.now()
    result = out.numpy().astype(np.float64)
    for t in {id(buf): buf, id(out): out}.values():
        t.free()
    return start, end, result


def _worker(
    rank: int,
    torch: RuntimeContext,
    op: str,
    pts: list[Point],
    warm_up: Point,
    dtype: str,
    root: int,
    across_pes: int,
    group_size: int | None,
) -> list[tuple[int, float, float, int]]:
    """One rank's sweep: (its group, barrier left, call done in simulated ns, wrong elements) per point; with
    ``group_size``, in groups of that many consecutive ranks, all at once."""
    dist = torch.distributed
    dist.init_process_group("ahbm")
    group = dist.new_subgroups(group_size)[0] if group_size else None
    mine = dist.get_rank(group)
    world = dist.get_world_size(group)
    out = []
    # one untimed call of the smallest size first, as nccl-tests' warm-up: first-use set-up is not a size's time
    _call(torch, op, mine, warm_up, dtype, root, group)
    for point in pts:
        start, end, got = _call(torch, op, mine, point, dtype, root, group)
        want = expected(op, mine, world, point, dtype, root, across_pes)
        out.append((rank // world, start, end, int(np.count_nonzero(got != want))))
    dist.destroy_process_group()
    return out


def run_sweep(
    eng: Engine, ccl: CclConfig, op: str, sizes: list[int], dtype: str, root: int, group_size: int | None = None
) -> list[dict[str, Any]]:
    """The sweep of ``op`` with ``ccl``'s selected algorithm on the fresh engine ``eng``: one row per point,
    the same on every MPI rank (``spawn`` gathers every rank's results). ``group_size``: the op runs in every group
    of that many consecutive ranks at once; each group is timed from its own barrier's release, and a row shows
    the slowest group."""
    spec = OPS[op]
    everyone = world_size_of(ccl.selected(), eng.topo)
    world = group_size or everyone
    torch = RuntimeContext(eng, ccl)
    shards = len(torch.distributed.plans()[0].pes) if op == "all_reduce" and not group_size else 1
    reduces_across = op == "all_reduce" and getattr(ccl.selected().load_module(), "REDUCES_ACROSS_PES", False)
    pts = points(spec, sizes, dtype, world, shards)
    warm_up = smallest(spec, dtype, world, shards)
    args = (torch, op, pts, warm_up, dtype, root, shards if reduces_across else 1, group_size)
    torch.multiprocessing.spawn(_worker, args=args, nprocs=everyone)
    per_rank = list(torch.multiprocessing.results.values())
    rows = []
    for i, point in enumerate(pts):
        times, skews = [], []
        for g in sorted({r[i][0] for r in per_rank}):
            members = [r[i] for r in per_rank if r[i][0] == g]
            release = max(m[1] for m in members)
            times += [m[2] - release for m in members]
            skews.append(release - min(m[1] for m in members))
        ns = max(times)
        algbw = point.size / ns  # bytes per ns = GB/s
        model = reference_ns(eng.topo, ccl.selected(), world, op, point.count, dtype, root, eng.scenario)
        rows.append(
            {
                "size": point.size,
                "count": point.count,
                "dtype": dtype,
                "redop": spec.redop,
                "root": root if op == "broadcast" else -1,
                "time_us": ns / 1e3,
                "time_min_us": min(times) / 1e3,
                "time_avg_us": sum(times) / len(times) / 1e3,
                "time_max_us": ns / 1e3,
                "release_skew_us": max(skews) / 1e3,
                "algbw_gbs": algbw,
                "busbw_gbs": algbw * spec.bus_factor(world),
                "wrong": sum(r[i][3] for r in per_rank),
                "model_us": None if model is None else model / 1e3,
                "sim_over_model": None if model is None else ns / model,
            }
        )
    return rows
