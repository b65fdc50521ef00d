"""Collective topologies: which PE sends to which, on which IPCQ direction.

A topology answers, for one rank, ``{(cube, pe): {direction: (peer_rank, peer_cube, peer_pe)}}``: the *send* edges
of every participating PE. Where each send lands (the receiver's direction) follows from `landing_direction`, so a
topology never lists receive sides and the two ends of a link cannot disagree.

Two kinds, one registry:

- rank-level ``fn(rank, world_size) -> {direction: peer_rank}`` (``ring_1d``, ``mesh_2d``, ``tree_binary``, ... or
  a dotted import path to a user function). Applied lane by lane: PE ``(c, p)`` of a rank talks to PE ``(c, p)`` of
  the peer rank.
- PE-level ``fn(rank, geometry, pes) -> edges`` (``hierarchical_3level``), for algorithms that connect PEs of one
  SIP to each other as well.

Directions on a grid (``E W N S``, ``global_E`` ...) land on the opposite direction; any other direction (``parent``,
``child_left``, ...) lands on the receiver's direction that points back at the sender, or on its own name when the
receiver has no such direction but sends on that name too (a one-way ring).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kernbench.ccl.resolve import resolve
from kernbench.topology import Topology

Node = tuple[int, int, int]
"""(rank, cube, pe) of a participating PE."""
PeEdges = dict[tuple[int, int], dict[str, Node]]
"""One rank's send edges: (cube, pe) -> direction -> the peer PE it sends to."""
NeighborMap = dict[str, int]
"""A rank-level topology's answer for one rank: direction -> peer rank."""

OPPOSITE = {"E": "W", "W": "E", "N": "S", "S": "N"}
OPPOSITE.update({f"global_{a}": f"global_{b}" for a, b in list(OPPOSITE.items())})


@dataclass(frozen=True)
class CclGeometry:
    """What topologies and kernels need to know of the system a collective runs on."""

    world_size: int
    cube_w: int = 1
    cube_h: int = 1
    pes_per_cube: int = 1
    sip_topology: str = "ring_1d"  # the physical inter-SIP links (topology.yaml system.topology)

    @property
    def cubes_per_sip(self) -> int:
        return self.cube_w * self.cube_h

    @property
    def sip_grid(self) -> tuple[int, int]:
        """(width, height) of the ranks as laid out on the SIP grid."""
        if self.sip_topology == "ring_1d":
            return self.world_size, 1
        side = math.isqrt(self.world_size)
        return side, side

    @classmethod
    def of(cls, topo: Topology, world_size: int | None = None) -> CclGeometry:
        world = topo.sip_count if world_size is None else world_size
        return cls(world, topo.sip.cube_mesh.w, topo.sip.cube_mesh.h, topo.pes_per_cube, topo.system.topology)


# -- rank-level topologies -------------------------------------------------------------------------------------


def ring_1d(rank: int, world_size: int) -> NeighborMap:
    """Bidirectional ring: ``E`` to rank + 1, ``W`` to rank - 1 (both the same peer in a ring of two)."""
    if world_size < 2:
        return {}
    return {"E": (rank + 1) % world_size, "W": (rank - 1) % world_size}


def ring_1d_unidir(rank: int, world_size: int) -> NeighborMap:
    """One-way ring: send ``E`` to rank + 1; data arrives on ``W`` (receive only)."""
    return {"E": (rank + 1) % world_size} if world_size >= 2 else {}


def grid_dims(world_size: int) -> tuple[int, int]:
    """(width, height) of the squarest grid of ``world_size`` ranks (width >= height): 4 -> 2x2, 6 -> 3x2, 7 -> 7x1."""
    height = max(h for h in range(1, math.isqrt(world_size) + 1) if world_size % h == 0)
    return world_size // height, height


def _grid(rank: int, world_size: int, wrap: bool) -> NeighborMap:
    w, h = grid_dims(world_size)
    y, x = divmod(rank, w)
    out: NeighborMap = {}
    for direction, (dx, dy), size in (("E", (1, 0), w), ("W", (-1, 0), w), ("N", (0, -1), h), ("S", (0, 1), h)):
        nx, ny = x + dx, y + dy
        if wrap:
            nx, ny = nx % w, ny % h
        elif not (0 <= nx < w and 0 <= ny < h):
            continue
        if size > 1:
            out[direction] = ny * w + nx
    return out


def torus_2d(rank: int, world_size: int) -> NeighborMap:
    """2D torus: ``E W N S`` with wrap-around on every edge (``grid_dims`` picks the shape); also ``mesh_2d``."""
    return _grid(rank, world_size, wrap=True)


def mesh_2d_no_wrap(rank: int, world_size: int) -> NeighborMap:
    """2D mesh without wrap-around: edge ranks have fewer neighbours."""
    return _grid(rank, world_size, wrap=False)


def tree_binary(rank: int, world_size: int) -> NeighborMap:
    """Binary tree in heap order: ``parent`` (rank - 1) // 2, ``child_left`` 2r + 1, ``child_right`` 2r + 2."""
    out: NeighborMap = {}
    if rank > 0:
        out["parent"] = (rank - 1) // 2
    for direction, child in (("child_left", 2 * rank + 1), ("child_right", 2 * rank + 2)):
        if child < world_size:
            out[direction] = child
    return out


def none(rank: int, world_size: int) -> NeighborMap:  # noqa: ARG001 - a rank-level topology's signature
    """No rank-level links: the algorithm module's own ``neighbors`` builds them."""
    return {}


# -- PE-level topologies ---------------------------------------------------------------------------------------


def hierarchical_3level(rank: int, geometry: CclGeometry, pes: Sequence[tuple[int, int]]) -> PeEdges:
    """The seeds' three-level neighbour table (ADR-0029; their ``hierarchical_allreduce.neighbors``): a ring of the
    PEs of each cube (``E`` to the next PE, ``W`` to the previous), a ring of the cube leaders of the SIP (``N`` to
    the next cube's leader, ``S`` to the previous one's), and ``parent`` from the SIP leader to the next SIP's
    leader.

    A cube's leader is its lowest participating PE; the SIP's leader is the leader of its lowest cube. ``parent``
    lands on the receiver's ``parent`` (`landing_direction`): with two SIPs it is the seeds' pair exchange (both
    ends send to and receive from each other); with more it is a one-way ring, each SIP leader receiving from the
    previous one (the seeds wired no receive there, their level 3 being a two-SIP exchange).
    """
    by_cube: dict[int, list[int]] = {}
    for cube, pe in sorted(pes):
        by_cube.setdefault(cube, []).append(pe)
    cubes = sorted(by_cube)
    edges: PeEdges = {(cube, pe): {} for cube, pe in pes}
    for cube, cube_pes in by_cube.items():
        _ring(edges, rank, [(cube, pe) for pe in cube_pes], "E", "W")
    _ring(edges, rank, [(cube, by_cube[cube][0]) for cube in cubes], "N", "S")
    leader = (cubes[0], by_cube[cubes[0]][0])
    if geometry.world_size > 1:
        edges[leader]["parent"] = ((rank + 1) % geometry.world_size, *leader)
    return edges


def dissemination(rank: int, geometry: CclGeometry, pes: Sequence[tuple[int, int]]) -> PeEdges:
    """The barrier's rounds (`kernbench.ccl.barrier`), dimension by dimension on the SIP grid (all ranks in one
    line when they do not fill it): direction ``x<k>`` to the rank ``2^k`` further along the row, ``y<k>`` to the
    one ``2^k`` further down the column, wrapping. On a ring or torus every rank's round k then crosses as many
    links as every other's, so ranks that arrive together leave together. Each direction lands on the receiver's
    direction of the same name (`SAME_NAME_LANDING`)."""
    width, height = dissemination_grid(geometry)
    y, x = divmod(rank, width)
    peers = {f"x{k}": y * width + (x + (1 << k)) % width for k in range(_rounds(width))}
    peers |= {f"y{k}": (y + (1 << k)) % height * width + x for k in range(_rounds(height))}
    return {pe: {d: (peer, *pe) for d, peer in peers.items()} for pe in pes}


def dissemination_grid(geometry: CclGeometry) -> tuple[int, int]:
    """(width, height) the barrier's rounds run on: the SIP grid, or one line of every rank."""
    width, height = geometry.sip_grid
    return (width, height) if width * height == geometry.world_size else (geometry.world_size, 1)


def _rounds(size: int) -> int:
    """Rounds of a dissemination over ``size`` ranks: ceil(log2 size)."""
    return (size - 1).bit_length()


def _ring(edges: PeEdges, rank: int, members: list[tuple[int, int]], fwd: str, back: str) -> None:
    n = len(members)
    if n < 2:
        return
    for i, member in enumerate(members):
        edges[member][fwd] = (rank, *members[(i + 1) % n])
        edges[member][back] = (rank, *members[(i - 1) % n])


RankTopology = Callable[[int, int], NeighborMap]
PeTopology = Callable[[int, CclGeometry, Sequence[tuple[int, int]]], PeEdges]

RANK_TOPOLOGIES: dict[str, RankTopology] = {
    "ring_1d": ring_1d,
    "ring_1d_unidir": ring_1d_unidir,
    "mesh_2d": torus_2d,
    "torus_2d": torus_2d,
    "mesh_2d_no_wrap": mesh_2d_no_wrap,
    "tree_binary": tree_binary,
    "none": none,
}
PE_TOPOLOGIES: dict[str, PeTopology] = {"hierarchical_3level": hierarchical_3level, "dissemination": dissemination}
SAME_NAME_LANDING = frozenset({"dissemination"})
"""Topologies whose every direction lands on the receiver's direction of the same name: round k of a
dissemination pattern, where the receiver's other directions may point back at the sender (3 ranks: r + 2 = r - 1)."""
TOPOLOGY_NAMES = tuple(sorted(RANK_TOPOLOGIES) + sorted(PE_TOPOLOGIES))
RANK_TOPOLOGY_PARAMS = ("rank", "world_size")
"""How a topology named by dotted path is called: it is a rank-level one."""


def resolve_topology(key: str) -> RankTopology | PeTopology:
    return resolve(key, {**RANK_TOPOLOGIES, **PE_TOPOLOGIES}, "topology", RANK_TOPOLOGY_PARAMS)


def pe_edges(
    key: str,
    rank: int,
    geometry: CclGeometry,
    pes: Sequence[tuple[int, int]],
    module_neighbors: PeTopology | None = None,
) -> PeEdges:
    """Rank ``rank``'s send edges under topology ``key`` (plus the algorithm module's own ``neighbors``)."""
    if key in PE_TOPOLOGIES:
        edges = PE_TOPOLOGIES[key](rank, geometry, pes)
    else:
        ranks = resolve(key, RANK_TOPOLOGIES, "topology", RANK_TOPOLOGY_PARAMS)(rank, geometry.world_size)
        if not isinstance(ranks, dict):
            raise ValueError(
                f"topology {key!r}: rank {rank}: expected a dict direction -> peer rank, got {type(ranks).__name__}"
            )
        for direction, peer in ranks.items():
            if (
                isinstance(peer, bool)
                or not isinstance(peer, int)
                or not 0 <= peer < geometry.world_size
                or peer == rank
            ):
                raise ValueError(
                    f"topology {key!r}: rank {rank} direction {direction!r} points at rank {peer}, "
                    f"not another rank of 0..{geometry.world_size - 1}"
                )
        edges = {(cube, pe): {d: (peer, cube, pe) for d, peer in ranks.items()} for cube, pe in pes}
    if module_neighbors is not None:
        for node, extra in module_neighbors(rank, geometry, pes).items():
            edges.setdefault(node, {}).update(extra)
    return edges


def landing_direction(direction: str, sender: Node, receiver_edges: dict[str, Node]) -> str:
    """The receiver's direction that a send on ``direction`` from ``sender`` arrives on.

    Grid directions land on the opposite one. Any other lands on the receiver's direction that points back at the
    sender (``parent`` on ``child_left``); when none does but the receiver sends on ``direction`` too, on
    ``direction`` itself: a one-way ring on one name (``hierarchical_3level``'s ``parent`` among more than two
    SIPs)."""
    if direction in OPPOSITE:
        return OPPOSITE[direction]
    back = sorted(d for d, peer in receiver_edges.items() if peer == sender)
    if not back and direction in receiver_edges:
        return direction
    if len(back) != 1:
        raise ValueError(
            f"direction {direction!r} from {sender}: the receiver needs exactly one direction pointing "
            f"back at the sender, it has {back or 'none'}"
        )
    return back[0]
