"""Intercube all-reduce: PE 0 of every cube contributes; the cube mesh reduces into its root cube, the root cubes
of the SIPs all-reduce over the physical SIP topology, and the result goes back over the mesh.

Topology ``none`` with this module's `neighbors` (mapper ``cube_leaders``): inside a SIP the cube mesh without wrap
(``E W N S`` on the ``cube_w x cube_h`` grid, cube ``y * w + x``); between SIPs, the root cube (the last, SE
corner) gets ``global_*`` links following ``geometry.sip_topology``: ``ring_1d`` (``global_E``/``global_W``),
``torus_2d`` / ``mesh_2d`` (wrapping grid) or ``mesh_2d_no_wrap`` (grid without wrap), on ``geometry.sip_grid``.

Kernel (the seeds' intercube kernel, tile by tile in slot-size pieces): rows reduce W -> E, the last column N -> S;
the root cubes pass tiles along each SIP row then column ring (or chain-reduce and broadcast back without wrap);
then the result goes back up the last column and along the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from kernbench.ccl.algorithms.common import chain_links, finalize, line_allreduce, nest, tree_broadcast, tree_reduce
from kernbench.ccl.topologies import RANK_TOPOLOGIES, CclGeometry, PeEdges
from kernbench.kernels import TLBase
from kernbench.topology import cube_neighbors

REDUCES_ACROSS_PES = True
SIP_WRAP = {"ring_1d": True, "torus_2d": True, "mesh_2d": True, "mesh_2d_no_wrap": False}
"""The SIP topologies the root cubes can exchange over, and whether their lines wrap."""


def neighbors(rank: int, geometry: CclGeometry, pes: Sequence[tuple[int, int]]) -> PeEdges:
    """Cube-mesh edges of every participating PE, plus the root cube's ``global_*`` edges to the other SIPs."""
    _sip_grid(geometry)
    root = geometry.cubes_per_sip - 1
    sips = RANK_TOPOLOGIES[geometry.sip_topology](rank, geometry.world_size)
    edges: PeEdges = {}
    for cube, pe in pes:
        out = {d: (rank, peer, pe) for d, peer in cube_neighbors(cube, geometry.cube_w, geometry.cube_h).items()}
        if cube == root:
            out.update({"global_" + d: (peer, cube, pe) for d, peer in sips.items()})
        edges[(cube, pe)] = out
    return edges


def kernel_args(*, n_elem: int, world_size: int, dtype: str, op: str, slot_elems: int, n_slots: int,
                geometry: CclGeometry, topology: str) -> tuple:
    """``(n_elem, dtype, op, cube_w, cube_h, world_size, sip_w, sip_h, wrap, slot_elems, window = n_slots)``."""
    sip_w, sip_h = _sip_grid(geometry)
    return (n_elem, dtype, op, geometry.cube_w, geometry.cube_h, world_size, sip_w, sip_h,
            SIP_WRAP[geometry.sip_topology], slot_elems, n_slots)


def kernel(ptr: int, n_elem: int, dtype: str, op: str, cube_w: int, cube_h: int, world: int, sip_w: int,
           sip_h: int, wrap: bool, slot_elems: int, window: int, tl: TLBase) -> None:
    """All-reduce ``n_elem`` values of ``dtype`` at ``ptr`` in place over every cube leader of ``world`` ranks."""
    y, x = divmod(tl.program_id(1), cube_w)
    links = nest(chain_links(x, cube_w, "E", "W"), chain_links(y, cube_h, "S", "N"))
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
        raise ValueError(f"intercube_allreduce: SIP topology must be one of {', '.join(SIP_WRAP)}, "
                         f"got {geometry.sip_topology!r}")
    width, height = geometry.sip_grid
    if width * height != geometry.world_size:
        raise ValueError(f"intercube_allreduce: {geometry.world_size} SIPs do not fill a {width}x{height} "
                         f"{geometry.sip_topology} grid")
    return width, height
