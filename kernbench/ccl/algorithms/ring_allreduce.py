"""Ring all-reduce, lane by lane: reduce-scatter then all-gather, ``2(p-1)`` steps of ``n/p`` elements each.

Topology ``ring_1d`` (or ``ring_1d_unidir``: it only ever sends east and receives from the west). Every rank ends
with the same bits: each chunk is reduced once, by its owner, and then copied.

The ``2(p-1)`` steps are one `ring_pipeline` of slot-size pieces that streams through memory as NCCL's ring does:
this rank's pieces are loaded ahead of use (`Prefetch`, asynchronous loads), a piece goes on to the next step as
soon as it has arrived (and been combined), and it is stored once final and sent on. So loads, link
transfers, reductions and stores of different pieces overlap.
"""

from __future__ import annotations

from kernbench.ccl.algorithms.common import Prefetch, combiner, even_bounds, finalize, ring_pipeline
from kernbench.ccl.request import AllReduceRequest
from kernbench.kernels import TensorHandle, TLBase, itemsize

STREAMS = True
"""It loads, sends and stores slot-size pieces, never the whole shard: `Distributed.all_reduce` runs it on a shard
of any size in one go."""


def kernel_args(request: AllReduceRequest) -> tuple:
    """The kernel's arguments: ``(n_elem, dtype, op, world_size, slot_elems, window = n_slots)``."""
    return request.n_elem, request.dtype, request.op, request.world_size, request.slot_elems, request.n_slots


def kernel(
    ptr: int,
    n_elem: int,
    dtype: str,
    op: str,
    world: int,
    slot_elems: int,
    window: int,
    tl: TLBase,
) -> None:
    """All-reduce ``n_elem`` values of ``dtype`` at ``ptr`` in place with ``op`` over a ring of ``world`` ranks.

    Rank r sends chunk ``(r - k) % world`` at step k: steps ``0 .. p-2`` reduce (the received piece combined with
    this rank's own, loaded then), and the chunk received at step p-2 is complete (stored, and sent on); steps
    ``p-1 .. 2p-3`` pass the complete chunks round (stored as they arrive). A ring of one has nothing to do.
    """
    bounds, item = even_bounds(n_elem, world), itemsize(dtype)
    order = [(tl.rank - k) % world for k in range(2 * world - 1)]
    lengths = [bounds[c + 1] - bounds[c] for c in order]
    combine = combiner(tl, op)

    def at(k: int, a: int) -> int:
        return ptr + (bounds[order[k]] + a) * item

    def plan(steps: range) -> list[tuple[tuple[int, int], int, int]]:
        return [
            ((k, a), at(k, a), min(slot_elems, lengths[k] - a)) for k in steps for a in range(0, lengths[k], slot_elems)
        ]

    # what the pipeline loads: chunk 0 as it sends it, and this rank's part of each chunk it reduces as those
    # arrive; two streams, each in the order it is asked for, so neither runs far ahead of its use and floods the
    # PE's port while pieces are landing
    depth = max(1, window // 2)
    to_send, to_reduce = Prefetch(tl, plan(range(1)), dtype, depth), Prefetch(tl, plan(range(1, world)), dtype, depth)

    def arrive(k: int, a: int, piece: TensorHandle) -> TensorHandle:
        return combine(to_reduce.get((k, a)), piece) if k < world else piece

    def settle(k: int, a: int, piece: TensorHandle) -> None:
        if k >= world - 1:
            tl.store(at(k, a), finalize(piece, op, world), dtype)

    ring_pipeline(tl, lengths, lambda a, _b: to_send.get((0, a)), arrive, dtype, slot_elems, window, "E", "W", settle)
