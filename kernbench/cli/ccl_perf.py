"""The sweep `kernbench ccl-perf` runs: one collective on growing buffers, timed in the simulation and checked
against numpy at every size, measured as nccl-tests measures (plain dict rows, no printing).

nccl-tests' definitions (its doc/PERFORMANCE.md): ``size`` is the bytes of the full array each rank holds (the
input of reduce-scatter, the output of all-gather, the buffer of all-reduce and broadcast) and ``count`` the
element count handed to the collective (per rank for all-gather and reduce-scatter); ``algbw = size / time``;
``busbw = algbw x factor``, the factor that makes busbw comparable with one link's bandwidth whatever the rank
count ``n``: ``2(n-1)/n`` for all-reduce, ``(n-1)/n`` for all-gather and reduce-scatter, 1 for broadcast. ``time``
is the mean over ranks (nccl-tests' default ``-a 1``) of the simulated time of one call, each rank timing from the
barrier that precedes it. ``#wrong`` counts the elements, summed over ranks, that differ from numpy's result.

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
from kernbench.cli.labels import count
from kernbench.cli.memory_needs import size_text
from kernbench.engine import Engine
from kernbench.kernels import itemsize
from kernbench.runtime import DPPolicy, RuntimeContext
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


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("all_reduce", "sum", False, lambda n: 2 * (n - 1) / n),
        Op("all_gather", "none", True, lambda n: (n - 1) / n),
        Op("reduce_scatter", "sum", True, lambda n: (n - 1) / n),
        Op("broadcast", "none", False, lambda _n: 1.0),
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


def points(op: Op, sizes: list[int], dtype: str, world: int, shards: int) -> list[Point]:
    """The sizes as nccl-tests rounds them: down to whole elements, per rank for all-gather and reduce-scatter,
    and for all-reduce to a multiple of the algorithm's shards (one per participating PE); sizes that round to
    nothing are left out (a `CclPerfError` when none is left)."""
    item = itemsize(dtype)
    unit = world if op.per_rank_count else shards
    out: list[Point] = []
    for size in sizes:
        elements = size // item // unit * unit
        count = elements // world if op.per_rank_count else elements
        if count and (not out or elements * item > out[-1].size):
            out.append(Point(elements * item, count))
    if not out:
        raise CclPerfError(
            f"--max-bytes {sizes[-1]}: too small for one {dtype} element "
            f"{'per rank' if op.per_rank_count else 'per shard'} ({unit * item} bytes)"
        )
    return out


def rank_values(rank: int, n: int, dtype: str, world: int) -> np.ndarray:
    """Small integers, different per rank and element, whose sum over ``world`` ranks is exact in ``dtype`` in
    any order, so a check can demand equality."""
    top = max(2, min(17, DTYPES[dtype] // world))
    return ((np.arange(n, dtype=np.int64) * 7 + rank * 3) % top).astype(np.float64)


def expected(op: str, rank: int, world: int, point: Point, dtype: str, root: int, across_pes: int) -> np.ndarray:
    """What rank ``rank``'s output holds after the collective: numpy's answer, from every rank's inputs.
    ``across_pes``: the shards of an all-reduce whose algorithm reduces across PEs too (1 when it does not)."""
    n = point.count
    if op == "broadcast":
        return rank_values(root, n, dtype, world)
    if op == "all_gather":
        return np.concatenate([rank_values(r, n, dtype, world) for r in range(world)])
    total = np.sum(
        [rank_values(r, n * (world if op == "reduce_scatter" else 1), dtype, world) for r in range(world)], axis=0
    )
    if op == "reduce_scatter":
        return total[rank * n : (rank + 1) * n]
    if across_pes > 1:
        return np.tile(total.reshape(across_pes, -1).sum(axis=0), across_pes)
    return total


def _call(
    torch: RuntimeContext, op: str, rank: int, world: int, point: Point, dtype: str, root: int
) -> tuple[float, np.ndarray]:
    """Fill this rank's buffers, run the collective once after a barrier; its simulated ns and the output."""
    dist = torch.distributed
    n = point.count
    mine = rank_values(rank, n * (world if op == "reduce_scatter" else 1), dtype, world)
    policy = dist.shard_policy() if op == "all_reduce" else LEADER_ONLY
    buf = torch.zeros((mine.size,), dtype, dp=policy, name="input")
    buf.copy_(mine)
    out = buf
    if op in ("all_gather", "reduce_scatter"):
        out = torch.zeros((n * world if op == "all_gather" else n,), dtype, dp=LEADER_ONLY, name="output")
    dist.barrier()
    start = torch.engine.now()
    if op == "all_reduce":
        dist.all_reduce(buf)
    elif op == "broadcast":
        dist.broadcast(buf, src=root)
    elif op == "all_gather":
        dist.all_gather_into_tensor(out, buf)
    else:
        dist.reduce_scatter_tensor(out, buf)
    took = torch.engine.now() - start
    result = out.numpy().astype(np.float64)
    for t in {id(buf): buf, id(out): out}.values():
        t.free()
    return took, result


def _worker(
    rank: int, torch: RuntimeContext, op: str, pts: list[Point], dtype: str, root: int, across_pes: int
) -> list[tuple[float, int]]:
    """One rank's sweep: (simulated ns, wrong elements) per point."""
    dist = torch.distributed
    dist.init_process_group("ahbm")
    world = dist.get_world_size()
    out = []
    for point in pts:
        took, got = _call(torch, op, rank, world, point, dtype, root)
        want = expected(op, rank, world, point, dtype, root, across_pes)
        out.append((took, int(np.count_nonzero(got != want))))
    dist.destroy_process_group()
    return out


def run_sweep(eng: Engine, ccl: CclConfig, op: str, sizes: list[int], dtype: str, root: int) -> list[dict[str, Any]]:
    """The sweep of ``op`` with ``ccl``'s selected algorithm on the fresh engine ``eng``: one row per point,
    the same on every MPI rank (``spawn`` gathers every rank's results)."""
    spec = OPS[op]
    world = world_size_of(ccl.selected(), eng.topo)
    torch = RuntimeContext(eng, ccl)
    shards = len(torch.distributed.plans()[0].pes) if op == "all_reduce" else 1
    reduces_across = op == "all_reduce" and getattr(ccl.selected().load_module(), "REDUCES_ACROSS_PES", False)
    pts = points(spec, sizes, dtype, world, shards)
    torch.multiprocessing.spawn(
        _worker, args=(torch, op, pts, dtype, root, shards if reduces_across else 1), nprocs=world
    )
    per_rank = list(torch.multiprocessing.results.values())
    rows = []
    for i, point in enumerate(pts):
        ns = sum(r[i][0] for r in per_rank) / world
        algbw = point.size / ns  # bytes per ns = GB/s
        rows.append(
            {
                "size": point.size,
                "count": point.count,
                "dtype": dtype,
                "redop": spec.redop,
                "root": root if op == "broadcast" else -1,
                "time_us": ns / 1e3,
                "algbw_gbs": algbw,
                "busbw_gbs": algbw * spec.bus_factor(world),
                "wrong": sum(r[i][1] for r in per_rank),
            }
        )
    return rows
