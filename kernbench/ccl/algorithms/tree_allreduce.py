"""Binary-tree all-reduce, lane by lane: reduce up to rank 0, broadcast back down.

Topology ``tree_binary`` (heap order: rank r's children are 2r + 1 and 2r + 2), any world size. Tiles move a slot
at a time, so a deep tree pipelines them.
"""

from __future__ import annotations

from kernbench.ccl.algorithms.common import finalize, tree_broadcast, tree_reduce
from kernbench.ccl.request import AllReduceRequest
from kernbench.kernels import TLBase


def kernel_args(request: AllReduceRequest) -> tuple:
    """The kernel's arguments: ``(n_elem, dtype, op, world_size, slot_elems)``."""
    return request.n_elem, request.dtype, request.op, request.world_size, request.slot_elems


def kernel(ptr: int, n_elem: int, dtype: str, op: str, world: int, slot_elems: int, tl: TLBase) -> None:
    """All-reduce ``n_elem`` values of ``dtype`` at ``ptr`` in place over a binary tree of ``world`` ranks."""
    rank = tl.rank
    children = [d for d, child in (("child_left", 2 * rank + 1), ("child_right", 2 * rank + 2)) if child < world]
    links = ("parent" if rank > 0 else None), children
    acc = tree_reduce(tl, tl.load(ptr, (n_elem,), dtype), links, op, slot_elems)
    acc = tree_broadcast(tl, acc, links, slot_elems)
    tl.store(ptr, finalize(acc, op, world), dtype)
