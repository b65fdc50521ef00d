"""Intercube all-reduce: PE 0 of every cube contributes; the cube mesh reduces into the root cube, the root cubes
of the SIPs all-reduce over the physical SIP topology, and the result goes back over the mesh.

Topology ``none`` with this module's `neighbors` (mapper ``cube_leaders``, the default of an entry that names no
mapper), the seeds' table (``configure_sfr_intercube_multisip``): inside a SIP the cube mesh without wrap
(``E W N S`` on the ``cube_w x cube_h`` grid, cube ``y * w + x``); between SIPs *every* cube gets ``global_*`` links
to the same cube of the neighbouring SIPs, following ``geometry.sip_topology``: ``ring_1d``
(``global_E``/``global_W``), ``torus_2d`` / ``mesh_2d`` (wrapping grid) or ``mesh_2d_no_wrap`` (grid without wrap),
on ``geometry.sip_grid``. So any cube can be the root: ccl.yaml's ``root_cube`` (the seeds' key) picks it, the last
(SE corner) cube by default as in the seeds' kernel.

Kernel (the seeds' intercube kernel, tile by tile in slot-size pieces): each row reduces into the root's column,
that column into the root; the root cubes pass tiles along each SIP row then column ring (or chain-reduce and
broadcast back without wrap); then the result goes back along the root's column and the rows. The other cubes'
``global_*`` queues stay unused.
"""

from __future__ import annotations

from collections.abc import Sequence

from kernbench.ccl.algorithms.common import chain_links, finalize, line_allreduce, nest, tree_broadcast, tree_reduce
from kernbench.ccl.request import AllReduceRequest
from kernbench.ccl.topologies import RANK_TOPOLOGIES, CclGeometry, PeEdges
from kernbench.kernels import TLBase
from kernbench.topology import cube_neighbors

REDUCES_ACROSS_PES = True
MAPPER = "cube_leaders"
VALIDATOR = "multi_pe_sip_local"
SIP_WRAP = {"ring_1d": True, "torus_2d": True, "mesh_2d": True, "mesh_2d_no_wrap": False}
"""The SIP topologies the root cubes can exchange over, and whether their lines wrap."""


def neighbors(rank: int, geometry: CclGeometry, pes: Sequence[tuple[int, int]]) -> PeEdges:
    """Cube-mesh edges of every participating PE, plus ``global_*`` edges to the same cube and PE of the
    neighbouring SIPs."""
    _sip_grid(geometry)
    sips = RANK_TOPOLOGIES[geometry.sip_topology](rank, geometry.world_size)
    edges: PeEdges = {}
    for cube, pe in pes:
        out = {d: (rank, peer, pe) for d, peer in cube_neighbors(cube, geometry.cube_w, geometry.cube_h).items()}
        out.update({"global_" + d: (peer, cube, pe) for d, peer in sips.items()})
        edges[(cube, pe)] = out
    return edges


def kernel_args(request: AllReduceRequest, *, root_cube: int | None = None) -> tuple:
    """The kernel's arguments: ``(n_elem, dtype, op, cube_w, cube_h, world_size, sip_w, sip_h, wrap, slot_elems,
    window = n_slots, root_cube)``; ``root_cube`` defaults to the last cube."""
    sip_w, sip_h = _sip_grid(request.geometry)
    root = request.geometry.cubes_per_sip - 1 if root_cube is None else root_cube
    if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < request.geometry.cubes_per_sip:
        raise ValueError(
            f"intercube_allreduce: root_cube must be a cube of the SIP, 0..{request.geometry.cubes_per_sip - 1}, "
            f"got {root_cube!r}"
        )
    return (
        request.n_elem,
        request.dtype,
        request.op,
        request.geometry.cube_w,
        request.geometry.cube_h,
        request.world_size,
        sip_w,
        sip_h,
        SIP_WRAP[request.geometry.sip_topology],
        request.slot_elems,
        request.n_slots,
        root,
    )


def kernel(
    ptr: int,
    n_elem: int,
    dtype: str,
    op: str,
    cube_w: int,
    cube_h: int,
    world: int,
    sip_w: int,
    sip_h: int,
    wrap: bool,
    slot_elems: int,
    window: int,
    root_cube: int,
    tl: TLBase,
) -> None:
    """All-reduce ``n_elem`` values of ``dtype`` at ``ptr`` in place over every cube leader of ``world`` ranks."""
    y, x = divmod(tl.program_id(1), cube_w)
    root_y, root_x = divmod(root_cube, cube_w)
    links = nest(chain_links(x, cube_w, "E", "W", root_x), chain_links(y, cube_h, "S", "N", root_y))
    acc = tree_reduce(tl, tl.load(ptr, (n_elem,), dtype), links, op, slot_elems)
    if links[0] is None:  # the root cube
        sip_y, sip_x = divmod(tl.rank, sip_w)
        acc = line_allreduce(tl, acc, sip_x, sip_w, "global_E", "global_W", op, wrap, slot_elems, window)
        acc = line_allreduce(tl, acc, sip_y, sip_h, "global_S", "global_N", op, wrap, slot_elems, window)
    acc = tree_broadcast(tl, acc, links, slot_elems)
    tl.store(ptr, finalize(acc, op, world * cube_w * cube_h), dtype)


def _sip_grid(geometry: CclGeometry) -> tuple[int, int]:
    """(width, height) of the SIPs' grid; refuses SIP topologies the root cubes cannot exchange over."""
    if geometry.sip_topology not in SIP_WRAP:
        raise ValueError(
            f"intercube_allreduce: SIP topology must be one of {', '.join(SIP_WRAP)}, got {geometry.sip_topology!r}"
        )
    width, height = geometry.sip_grid
    if width * height != geometry.world_size:
        raise ValueError(
            f"intercube_allreduce: {geometry.world_size} SIPs do not fill a {width}x{height} "
            f"{geometry.sip_topology} grid"
        )
    return width, height
