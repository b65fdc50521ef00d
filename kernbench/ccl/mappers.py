"""Mappers: which PEs of a rank's SIP take part in a collective (ADR-0024 D5 of the seeds).

A mapper is ``fn(geometry, rank) -> [(cube, pe), ...]``; ccl.yaml names one by registry key or dotted import path.
"""

from __future__ import annotations

from collections.abc import Callable

from kernbench.ccl.resolve import resolve
from kernbench.ccl.topologies import CclGeometry

Mapper = Callable[[CclGeometry, int], list[tuple[int, int]]]


def leader_only(geometry: CclGeometry, rank: int) -> list[tuple[int, int]]:  # noqa: ARG001 - the Mapper signature
    """One PE per SIP, cube 0 PE 0: ring, mesh and tree algorithms between SIPs."""
    return [(0, 0)]


def cube_leaders(geometry: CclGeometry, rank: int) -> list[tuple[int, int]]:  # noqa: ARG001 - the Mapper signature
    """PE 0 of every cube: algorithms that reduce over the cube mesh before going between SIPs."""
    return [(cube, 0) for cube in range(geometry.cubes_per_sip)]


def all_pes(geometry: CclGeometry, rank: int) -> list[tuple[int, int]]:  # noqa: ARG001 - the Mapper signature
    """Every PE of the SIP: hierarchical algorithms and lane-wise collectives on fully sharded tensors."""
    return [(cube, pe) for cube in range(geometry.cubes_per_sip) for pe in range(geometry.pes_per_cube)]


MAPPERS: dict[str, Mapper] = {"leader_only": leader_only, "cube_leaders": cube_leaders, "all_pes": all_pes}


def resolve_mapper(key: str) -> Mapper:
    return resolve(key, MAPPERS, "mapper", ("geometry", "rank"))
