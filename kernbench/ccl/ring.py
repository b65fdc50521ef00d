"""Ring collectives across SIPs besides all-reduce (`kernbench.ccl.algorithms.ring_allreduce`): reduce-scatter,
all-gather and broadcast.

Ranks are SIPs; each SIP's leader PE (cube 0, PE 0) holds the rank's data and talks to its ring neighbours over
IPCQ: ``east`` (``E`` unless renamed) to rank ``r+1``, ``west`` to rank ``r-1`` (queues from
`kernbench.ccl.install_plan`). The ring steps are `kernbench.ccl.algorithms.common`'s, shared with the algorithms.

Reduce-scatter and all-gather hold their whole data in the PE up to `BLOCK_BYTES` (one load, one store); beyond it
(`streams`) they stream it through memory as the ring all-reduce's two halves do: pieces loaded ahead of use, each
piece stored as it is final, so any size fits the PE's staging area.
"""

from __future__ import annotations

from kernbench.ccl.algorithms.common import (
    BLOCK_BYTES,
    Prefetch,
    all_gather,
    combiner,
    finalize,
    reduce_scatter,
    ring_links,
    ring_pipeline,
    split_even,
    tree_reduce,
)
from kernbench.ccl.algorithms.common import REDUCE_OPS as REDUCE_OPS
from kernbench.kernels import TL, TensorHandle, itemsize


def streams(nbytes: int) -> bool:
    """Whether a reduce-scatter (``nbytes`` its input) or all-gather (its output) streams through memory."""
    return nbytes > BLOCK_BYTES


def ring_reduce_scatter_kernel(
    out_ptr: int,
    in_ptr: int,
    n_out: int,
    dtype: str,
    op: str,
    world: int,
    slot_elems: int,
    window: int,
    tl: TL,
    east: str = "E",
    west: str = "W",
) -> None:
    """Rank r gets chunk r of the reduction of every rank's ``world * n_out`` input values."""
    if streams(world * n_out * itemsize(dtype)):
        _stream_reduce_scatter(out_ptr, in_ptr, n_out, dtype, op, world, slot_elems, window, tl, east, west)
        return
    chunks = split_even(tl.load(in_ptr, (world * n_out,), dtype), world)
    chunks = reduce_scatter(tl, chunks, dtype, op, world, slot_elems, window, 0, east, west)
    tl.store(out_ptr, finalize(chunks[tl.rank], op, world), dtype)


def ring_all_gather_kernel(
    out_ptr: int,
    in_ptr: int,
    n_in: int,
    dtype: str,
    world: int,
    slot_elems: int,
    window: int,
    tl: TL,
    east: str = "E",
    west: str = "W",
) -> None:
    """Every rank gets the ``n_in`` values of every rank, in rank order, at ``out_ptr``."""
    if streams(world * n_in * itemsize(dtype)):
        _stream_all_gather(out_ptr, in_ptr, n_in, dtype, world, slot_elems, window, tl, east, west)
        return
    mine = tl.load(in_ptr, (n_in,), dtype)
    chunks = [mine if r == tl.rank else tl.zeros((n_in,), dtype) for r in range(world)]
    chunks = all_gather(tl, chunks, dtype, world, slot_elems, window, 0, east, west)
    tl.store(out_ptr, tl.cat(chunks), dtype)


def _plan(
    ptr: int, order: list[int], steps: range, n: int, item: int, slot_elems: int
) -> list[tuple[tuple[int, int], int, int]]:
    """`Prefetch` plan of the pieces of the chunks ``order[k]`` of ``n`` elements at ``ptr`` for the steps ``k`` of
    ``steps``, keyed (k, first element)."""
    return [
        ((k, a), ptr + (order[k] * n + a) * item, min(slot_elems, n - a))
        for k in steps
        for a in range(0, n, slot_elems)
    ]


def _stream_reduce_scatter(
    out_ptr: int,
    in_ptr: int,
    n: int,
    dtype: str,
    op: str,
    world: int,
    slot_elems: int,
    window: int,
    tl: TL,
    east: str,
    west: str,
) -> None:
    """The ring all-reduce's first half: ``p - 1`` steps, step ``k`` sending chunk ``(r - k - 1) % p``; this
    rank's part of each arriving piece loaded as it comes, the pieces of chunk ``r`` stored once complete."""
    item, depth = itemsize(dtype), max(1, window // 2)
    order = [(tl.rank - k - 1) % world for k in range(world)]
    to_send = Prefetch(tl, _plan(in_ptr, order, range(1), n, item, slot_elems), dtype, depth)
    to_reduce = Prefetch(tl, _plan(in_ptr, order, range(1, world), n, item, slot_elems), dtype, depth)
    combine = combiner(tl, op)

    def arrive(k: int, a: int, piece: TensorHandle) -> TensorHandle:
        return combine(to_reduce.get((k, a)), piece)

    def settle(k: int, a: int, piece: TensorHandle) -> None:
        if k == world - 1:
            tl.store(out_ptr + a * item, finalize(piece, op, world), dtype)

    if world == 1:
        for a in range(0, n, slot_elems):
            settle(0, a, to_send.get((0, a)))
        return
    ring_pipeline(
        tl, [n] * world, lambda a, _b: to_send.get((0, a)), arrive, dtype, slot_elems, window, east, west, settle
    )


def _stream_all_gather(
    out_ptr: int,
    in_ptr: int,
    n: int,
    dtype: str,
    world: int,
    slot_elems: int,
    window: int,
    tl: TL,
    east: str,
    west: str,
) -> None:
    """The ring all-reduce's second half: ``p - 1`` steps, step ``k`` sending chunk ``(r - k) % p``; this rank's
    pieces loaded ahead as they are sent, every piece stored at its rank's place once sent on (or received)."""
    item = itemsize(dtype)
    order = [(tl.rank - k) % world for k in range(world)]
    own = Prefetch(tl, _plan(in_ptr, [0], range(1), n, item, slot_elems), dtype, max(1, window // 2))

    def settle(k: int, a: int, piece: TensorHandle) -> None:
        tl.store(out_ptr + (order[k] * n + a) * item, piece, dtype)

    if world == 1:
        for a in range(0, n, slot_elems):
            settle(0, a, own.get((0, a)))
        return
    ring_pipeline(
        tl,
        [n] * world,
        lambda a, _b: own.get((0, a)),
        lambda _k, _a, piece: piece,
        dtype,
        slot_elems,
        window,
        east,
        west,
        settle,
    )


def ring_broadcast_kernel(
    ptr: int,
    n_elem: int,
    dtype: str,
    root: int,
    world: int,
    slot_elems: int,
    window: int,  # noqa: ARG001 - the ring kernels' arguments
    tl: TL,
    east: str = "E",
    west: str = "W",
) -> None:
    """Every rank gets the root's ``n_elem`` values: passed east round the ring, piece by piece."""
    hops = (tl.rank - root) % world  # how far east of the root this rank is
    if hops == 0:
        data = tl.load(ptr, (n_elem,), dtype)
        for start in range(0, n_elem, slot_elems):
            tl.send(east, data[start : start + slot_elems])
        return
    pieces = []
    for start in range(0, n_elem, slot_elems):
        piece = tl.recv(west, (min(slot_elems, n_elem - start),), dtype)
        if hops < world - 1:
            tl.send(east, piece)
        pieces.append(piece)
    tl.store(ptr, tl.cat(pieces), dtype)


def ring_reduce_kernel(
    ptr: int,
    n_elem: int,
    dtype: str,
    op: str,
    root: int,
    world: int,
    slot_elems: int,
    tl: TL,
    east: str = "E",
    west: str = "W",
) -> None:
    """Rank ``root`` gets the reduction of every rank's ``n_elem`` values: reduced round the ring from both sides
    into it, piece by piece (`common.ring_links`); the other ranks' values stay as they were."""
    links = ring_links((tl.rank - root) % world, world, east, west)
    acc = tree_reduce(tl, tl.load(ptr, (n_elem,), dtype), links, op, slot_elems)
    if links[0] is None:
        tl.store(ptr, finalize(acc, op, world), dtype)
