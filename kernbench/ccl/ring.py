"""Ring collectives across SIPs besides all-reduce (`kernbench.ccl.algorithms.ring_allreduce`): reduce-scatter,
all-gather and broadcast.

Ranks are SIPs; each SIP's leader PE (cube 0, PE 0) holds the rank's data and talks to its ring neighbours over
IPCQ: ``east`` (``E`` unless renamed) to rank ``r+1``, ``west`` to rank ``r-1`` (queues from
`kernbench.ccl.install_plan`). The ring steps are `kernbench.ccl.algorithms.common`'s, shared with the algorithms.
"""

from __future__ import annotations

from kernbench.ccl.algorithms.common import REDUCE_OPS as REDUCE_OPS
from kernbench.ccl.algorithms.common import (
    all_gather,
    finalize,
    reduce_scatter,
    ring_links,
    split_even,
    tree_reduce,
)
from kernbench.kernels import TL


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
    mine = tl.load(in_ptr, (n_in,), dtype)
    chunks = [mine if r == tl.rank else tl.zeros((n_in,), dtype) for r in range(world)]
    chunks = all_gather(tl, chunks, dtype, world, slot_elems, window, 0, east, west)
    tl.store(out_ptr, tl.cat(chunks), dtype)


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
