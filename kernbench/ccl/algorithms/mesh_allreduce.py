"""2D all-reduce, lane by lane: along the rows (``E``/``W``), then along the columns (``S``/``N``).

Ranks sit on the squarest grid ``topologies.grid_dims(world_size)`` (4 -> 2x2, 6 -> 3x2, 7 -> 7x1), rank
``y * w + x``. With wrap links (``mesh_2d``, ``torus_2d``) each row and column is a ring and tiles pass along it;
on ``mesh_2d_no_wrap`` a line has ends, so it reduces to its last rank and broadcasts back.
"""

from __future__ import annotations

from kernbench.ccl.algorithms.common import finalize, line_allreduce
from kernbench.ccl.request import AllReduceRequest
from kernbench.ccl.topologies import grid_dims
from kernbench.kernels import TLBase


def kernel_args(request: AllReduceRequest) -> tuple:
    """The kernel's arguments: ``(n_elem, dtype, op, width, height, wrap, slot_elems, window = n_slots)``."""
    width, height = grid_dims(request.world_size)
    return (
        request.n_elem,
        request.dtype,
        request.op,
        width,
        height,
        request.topology != "mesh_2d_no_wrap",
        request.slot_elems,
        request.n_slots,
    )


def kernel(
    ptr: int,
    n_elem: int,
    dtype: str,
    op: str,
    width: int,
    height: int,
    wrap: bool,
    slot_elems: int,
    window: int,
    tl: TLBase,
) -> None:
    """All-reduce ``n_elem`` values of ``dtype`` at ``ptr`` in place over a ``width x height`` grid of ranks."""
    y, x = divmod(tl.rank, width)
    acc = tl.load(ptr, (n_elem,), dtype)
    acc = line_allreduce(tl, acc, x, width, "E", "W", op, wrap, slot_elems, window)
    acc = line_allreduce(tl, acc, y, height, "S", "N", op, wrap, slot_elems, window)
    tl.store(ptr, finalize(acc, op, width * height), dtype)
