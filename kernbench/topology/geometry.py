"""Where things are inside a SIP: cube coordinates, XY routes between cubes, PE numbering, wire lengths.

Conventions (shared with the SIP grid in `kernbench.topology.sip_links`): cube id = y * w + x; x grows east,
y grows south; cube 0 is the north-west corner. XY routing goes along x first (E/W), then along y (N/S); it is
deadlock-free in a mesh and gives the same path every time, which keeps runs deterministic.

Wire propagation delay is ``mm * ns_per_mm``; one UCIe hop between neighbouring cubes is ``pitch_mm`` of wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernbench.topology.schema import CubeMeshConfig, PeLayoutConfig, SipConfig


@dataclass(frozen=True)
class CubeHop:
    """One UCIe crossing from cube ``src`` to its neighbour ``dst`` in ``direction`` (E/W/N/S)."""

    src: int
    dst: int
    direction: str


def _check_cube(name: str, cube: int, w: int, h: int) -> None:
    if not 0 <= cube < w * h:
        raise ValueError(f"{name}: expected cube 0..{w * h - 1} in a {w}x{h} mesh, got {cube}")


def cube_coord(cube: int, w: int, h: int) -> tuple[int, int]:
    """(x, y) of ``cube`` in a w x h mesh."""
    _check_cube("cube", cube, w, h)
    y, x = divmod(cube, w)
    return x, y


def cube_at(x: int, y: int, w: int, h: int) -> int:
    """Cube id at (x, y)."""
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"(x, y): expected inside a {w}x{h} mesh, got ({x}, {y})")
    return y * w + x


def cube_neighbors(cube: int, w: int, h: int) -> dict[str, int]:
    """Direction -> neighbouring cube over a UCIe link (the mesh does not wrap)."""
    x, y = cube_coord(cube, w, h)
    out: dict[str, int] = {}
    for label, nx, ny in (("E", x + 1, y), ("W", x - 1, y), ("N", x, y - 1), ("S", x, y + 1)):
        if 0 <= nx < w and 0 <= ny < h:
            out[label] = ny * w + nx
    return out


def manhattan(src: int, dst: int, w: int, h: int) -> int:
    """Number of UCIe hops between two cubes on a shortest (and on the XY) path."""
    (sx, sy), (dx, dy) = cube_coord(src, w, h), cube_coord(dst, w, h)
    return abs(sx - dx) + abs(sy - dy)


def xy_route(src: int, dst: int, w: int, h: int) -> tuple[CubeHop, ...]:
    """Hops from ``src`` to ``dst``: along x first, then along y. Empty when src == dst."""
    _check_cube("src", src, w, h)
    _check_cube("dst", dst, w, h)
    x, y = cube_coord(src, w, h)
    dx, dy = cube_coord(dst, w, h)
    hops: list[CubeHop] = []
    while (x, y) != (dx, dy):
        if x != dx:
            step, label = (1, "E") if dx > x else (-1, "W")
            nx, ny = x + step, y
        else:
            step, label = (1, "S") if dy > y else (-1, "N")
            nx, ny = x, y + step
        hops.append(CubeHop(y * w + x, ny * w + nx, label))
        x, y = nx, ny
    return tuple(hops)


def route_mm(src: int, dst: int, mesh: CubeMeshConfig) -> float:
    """Wire length in mm of the XY route between two cubes (hops x cube pitch)."""
    return manhattan(src, dst, mesh.w, mesh.h) * mesh.pitch_mm


def wire_ns(mm: float, ns_per_mm: float) -> float:
    """Propagation delay of ``mm`` of wire."""
    return mm * ns_per_mm


def io_attached_cubes(sip: SipConfig) -> tuple[int, ...]:
    """Cubes on the edge the IO chiplet is attached to, in NoC router order (north to south or west to east)."""
    mesh, edge = sip.cube_mesh, sip.io_chiplet.attach_edge
    if edge in ("W", "E"):
        x = 0 if edge == "W" else mesh.w - 1
        return tuple(y * mesh.w + x for y in range(mesh.h))
    y = 0 if edge == "N" else mesh.h - 1
    return tuple(y * mesh.w + x for x in range(mesh.w))


def io_entry_cube(cube: int, sip: SipConfig) -> int:
    """The attached cube whose row (W/E edge) or column (N/S edge) holds ``cube``: where IO traffic enters the mesh.

    Entering there, the route to ``cube`` runs straight along one axis.
    """
    mesh = sip.cube_mesh
    x, y = cube_coord(cube, mesh.w, mesh.h)
    attached = io_attached_cubes(sip)
    return attached[y] if sip.io_chiplet.attach_edge in ("W", "E") else attached[x]


def pe_number(corner: str, index: int, layout: PeLayoutConfig) -> int:
    """PE number within its cube: corners in layout order, ``pe_per_corner`` consecutive numbers each."""
    if corner not in layout.corners:
        raise ValueError(f"corner: expected one of {', '.join(layout.corners)}, got {corner!r}")
    if not 0 <= index < layout.pe_per_corner:
        raise ValueError(f"index: expected 0..{layout.pe_per_corner - 1}, got {index}")
    return layout.corners.index(corner) * layout.pe_per_corner + index


def pe_position(pe: int, layout: PeLayoutConfig) -> tuple[str, int]:
    """(corner, index) of PE number ``pe``; the inverse of `pe_number`."""
    if not 0 <= pe < layout.pes_per_cube:
        raise ValueError(f"pe: expected 0..{layout.pes_per_cube - 1}, got {pe}")
    corner, index = divmod(pe, layout.pe_per_corner)
    return layout.corners[corner], index
