"""Cube coordinates, XY routes, PE numbering and wire lengths inside a SIP."""

import itertools
from dataclasses import replace

import pytest

from kernbench.topology import (
    cube_at,
    cube_coord,
    cube_neighbors,
    io_attached_cubes,
    io_entry_cube,
    manhattan,
    pe_number,
    pe_position,
    route_mm,
    wire_ns,
    xy_route,
)


def test_cube_coordinates_round_trip():
    w, h = 4, 3
    for cube in range(w * h):
        x, y = cube_coord(cube, w, h)
        assert 0 <= x < w
        assert 0 <= y < h
        assert cube_at(x, y, w, h) == cube
    assert cube_coord(5, 4, 4) == (1, 1)
    with pytest.raises(ValueError, match=r"cube: expected cube 0\.\.15"):
        cube_coord(16, 4, 4)
    with pytest.raises(ValueError, match=r"\(x, y\)"):
        cube_at(4, 0, 4, 4)


def test_cube_neighbours_do_not_wrap():
    assert cube_neighbors(0, 4, 4) == {"E": 1, "S": 4}
    assert cube_neighbors(5, 4, 4) == {"E": 6, "W": 4, "N": 1, "S": 9}
    assert cube_neighbors(15, 4, 4) == {"W": 14, "N": 11}


@pytest.mark.parametrize(("w", "h"), [(4, 4), (1, 5), (3, 2)])
def test_xy_route_hops_equal_manhattan(w, h):
    for src, dst in itertools.product(range(w * h), repeat=2):
        hops = xy_route(src, dst, w, h)
        assert len(hops) == manhattan(src, dst, w, h)
        node = src
        for hop in hops:
            assert hop.src == node
            assert cube_neighbors(hop.src, w, h)[hop.direction] == hop.dst
            node = hop.dst
        assert node == dst


def test_xy_route_goes_x_first():
    hops = xy_route(0, 15, 4, 4)
    assert [hop.direction for hop in hops] == ["E", "E", "E", "S", "S", "S"]
    assert [hop.dst for hop in hops] == [1, 2, 3, 7, 11, 15]
    assert [hop.direction for hop in xy_route(15, 0, 4, 4)] == ["W", "W", "W", "N", "N", "N"]
    assert xy_route(6, 6, 4, 4) == ()


def test_route_length_and_propagation(topo):
    mesh = topo.sip.cube_mesh
    assert route_mm(0, 15, mesh) == 6 * mesh.pitch_mm
    assert wire_ns(route_mm(0, 15, mesh), topo.system.ns_per_mm) == pytest.approx(6 * mesh.pitch_mm * 0.01)
    assert route_mm(3, 3, mesh) == 0


def test_pe_numbering(topo):
    layout = topo.cube.pe_layout
    assert [pe_position(pe, layout) for pe in range(8)] == [
        ("NW", 0), ("NW", 1), ("NE", 0), ("NE", 1), ("SW", 0), ("SW", 1), ("SE", 0), ("SE", 1),
    ]  # fmt: skip
    for pe in range(layout.pes_per_cube):
        assert pe_number(*pe_position(pe, layout), layout) == pe
    with pytest.raises(ValueError, match=r"index: expected 0\.\.1, got 2"):
        pe_number("NW", 2, layout)
    with pytest.raises(ValueError, match="corner: expected one of"):
        pe_number("C", 0, layout)
    with pytest.raises(ValueError, match=r"pe: expected 0\.\.7, got 8"):
        pe_position(8, layout)


def test_io_chiplet_attachment(topo):
    sip = topo.sip
    assert sip.io_chiplet.attach_edge == "W"
    assert io_attached_cubes(sip) == (0, 4, 8, 12)
    assert [io_entry_cube(c, sip) for c in (0, 3, 6, 13)] == [0, 0, 4, 12]
    north = replace(sip, io_chiplet=replace(sip.io_chiplet, attach_edge="N"))
    assert io_attached_cubes(north) == (0, 1, 2, 3)
    assert io_entry_cube(14, north) == 2
    east = replace(sip, io_chiplet=replace(sip.io_chiplet, attach_edge="E"))
    assert io_attached_cubes(east) == (3, 7, 11, 15)
