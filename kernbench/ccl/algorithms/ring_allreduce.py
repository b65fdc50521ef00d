"""Ring all-reduce, lane by lane: reduce-scatter then all-gather, ``2(p-1)`` steps of ``n/p`` elements each.

Topology ``ring_1d`` (or ``ring_1d_unidir``: it only ever sends east and receives from the west). Every rank ends
with the same bits: each chunk is reduced once, by its owner, and then copied.
"""

from __future__ import annotations

from kernbench.ccl.algorithms.common import all_gather, finalize, reduce_scatter, split_even
from kernbench.ccl.topologies import CclGeometry
from kernbench.kernels import TLBase


def kernel_args(*, n_elem: int, world_size: int, dtype: str, op: str, slot_elems: int, n_slots: int,
                geometry: CclGeometry, topology: str, east: str = "E", west: str = "W") -> tuple:  # noqa: ARG001 - every algorithm's kernel_args gets the same keywords
    """``(n_elem, dtype, op, world_size, slot_elems, window = n_slots, east, west)``; ``east`` / ``west`` rename
    the ring's directions (a ring installed beside another algorithm's queues)."""
    return n_elem, dtype, op, world_size, slot_elems, n_slots, east, west


def kernel(ptr: int, n_elem: int, dtype: str, op: str, world: int, slot_elems: int, window: int, east: str,
           west: str, tl: TLBase) -> None:
    """All-reduce ``n_elem`` values of ``dtype`` at ``ptr`` in place with ``op`` over a ring of ``world`` ranks."""
    chunks = split_even(tl.load(ptr, (n_elem,), dtype), world)
    chunks = reduce_scatter(tl, chunks, dtype, op, world, slot_elems, window, 1, east, west)
    chunks = all_gather(tl, chunks, dtype, world, slot_elems, window, 1, east, west)
    tl.store(ptr, finalize(tl.cat(chunks), op, world), dtype)
