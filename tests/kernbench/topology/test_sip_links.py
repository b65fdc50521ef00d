"""Inter-SIP links for each SIP topology and several sizes."""

from collections import Counter
from dataclasses import replace

import pytest

from kernbench.topology import (
    SystemConfig,
    TopologyError,
    first_hop,
    links_from,
    min_link_latency_ns,
    parse_topology,
    sip_grid,
    sip_links,
    sip_neighbors,
    sip_route,
)

OPPOSITE = {"E": "W", "W": "E", "N": "S", "S": "N"}


@pytest.fixture
def system(default_raw) -> SystemConfig:
    return parse_topology(default_raw, "topology.yaml").system


def _system(base: SystemConfig, topology: str, n: int) -> SystemConfig:
    return replace(base, topology=topology, sip_count=n)


def _check_common(links, n):
    pairs = [(link.src, link.dst) for link in links]
    assert all(src != dst for src, dst in pairs), "self link"
    assert len(pairs) == len(set(pairs)), "duplicate directed link"
    assert all(0 <= s < n and 0 <= d < n for s, d in pairs)
    by_pair = {(link.src, link.dst): link for link in links}
    for link in links:
        back = by_pair[(link.dst, link.src)]
        assert back.direction == OPPOSITE[link.direction], (link, back)
        assert back.latency_ns == link.latency_ns > 0
        assert back.bandwidth_gbs == link.bandwidth_gbs
    # per SIP, each direction label is used at most once
    assert max(Counter((link.src, link.direction) for link in links).values(), default=1) == 1


def test_ring_one_sip_has_no_links(system):
    one = _system(system, "ring_1d", 1)
    assert sip_links(one) == ()
    assert sip_neighbors(one, 0) == {}
    assert min_link_latency_ns(one) is None


def test_ring_two_sips_one_link_each_way(system):
    links = sip_links(_system(system, "ring_1d", 2))
    assert [(link.src, link.dst, link.direction) for link in links] == [(0, 1, "E"), (1, 0, "W")]
    assert all(link.latency_ns == system.inter_sip_link.latency_ns for link in links)
    assert all(link.bandwidth_gbs == system.inter_sip_link.bandwidth_gbs for link in links)


def test_ring_four_sips(system):
    four = _system(system, "ring_1d", 4)
    links = sip_links(four)
    _check_common(links, 4)
    assert len(links) == 8
    assert sip_grid(four) == (4, 1)
    for s in range(4):
        assert sip_neighbors(four, s) == {"E": (s + 1) % 4, "W": (s - 1) % 4}


def test_torus_four_is_a_2x2_without_duplicates(system):
    four = _system(system, "torus_2d", 4)
    links = sip_links(four)
    _check_common(links, 4)
    assert sip_grid(four) == (2, 2)
    assert len(links) == 8  # 4 undirected links of a 2x2 square, each direction once
    assert sip_neighbors(four, 0) == {"E": 1, "S": 2}
    assert sip_neighbors(four, 3) == {"W": 2, "N": 1}


def test_torus_nine_wraps(system):
    nine = _system(system, "torus_2d", 9)
    links = sip_links(nine)
    _check_common(links, 9)
    assert len(links) == 4 * 9
    for s in range(9):
        y, x = divmod(s, 3)
        assert sip_neighbors(nine, s) == {
            "E": y * 3 + (x + 1) % 3,
            "W": y * 3 + (x - 1) % 3,
            "N": ((y - 1) % 3) * 3 + x,
            "S": ((y + 1) % 3) * 3 + x,
        }


@pytest.mark.parametrize(("n", "expected"), [(1, 0), (4, 8), (9, 24), (16, 48)])
def test_mesh_no_wrap_counts(system, n, expected):
    links = sip_links(_system(system, "mesh_2d_no_wrap", n))
    _check_common(links, n)
    assert len(links) == expected  # 2 directions x 2 axes x side x (side - 1)


def test_mesh_four_and_nine_neighbours(system):
    four = _system(system, "mesh_2d_no_wrap", 4)
    assert [sip_neighbors(four, s) for s in range(4)] == [
        {"E": 1, "S": 2},
        {"W": 0, "S": 3},
        {"E": 3, "N": 0},
        {"W": 2, "N": 1},
    ]
    nine = _system(system, "mesh_2d_no_wrap", 9)
    assert sip_neighbors(nine, 0) == {"E": 1, "S": 3}
    assert sip_neighbors(nine, 4) == {"E": 5, "W": 3, "N": 1, "S": 7}
    assert sip_neighbors(nine, 8) == {"W": 7, "N": 5}


def _reference_links(topology: str, n: int) -> dict[tuple[int, str], int]:
    """(src, label) -> dst from all pairs of SIPs: the pre-closed-form way, written independently.

    Two SIPs are linked when their grid coordinates differ by one step on one axis (modulo the axis where the
    topology wraps); the first SIP in index order to claim a pair labels it E (or S) and the other end W (or N).
    """
    w = n if topology == "ring_1d" else int(n**0.5)
    h = n // w
    wrap = topology != "mesh_2d_no_wrap"
    table: dict[tuple[int, str], int] = {}
    claimed: set[frozenset[int]] = set()
    for a in range(n):
        for b in range(n):
            if a == b or frozenset((a, b)) in claimed:
                continue
            (ax, ay), (bx, by) = (a % w, a // w), (b % w, b // w)
            dx = (bx - ax) % w if wrap else bx - ax
            dy = (by - ay) % h if wrap else by - ay
            label = "E" if ay == by and dx == 1 else "S" if ax == bx and dy == 1 else None
            if label is not None:
                claimed.add(frozenset((a, b)))
                table[(a, label)] = b
                table[(b, OPPOSITE[label])] = a
    return table


def _reference_route(table, topology: str, n: int, src: int, dst: int) -> list[tuple[int, str, int]]:
    """X then Y; per axis walk both ways along the link table and take the shorter (E / S on a tie)."""
    w = n if topology == "ring_1d" else int(n**0.5)
    route, here = [], src
    for forward, backward, coord in (("E", "W", lambda s: s % w), ("S", "N", lambda s: s // w)):
        walks = []
        for label in (forward, backward):
            walk, at = [], here
            while coord(at) != coord(dst) and (at, label) in table and len(walk) <= n:
                walk.append((at, label, table[(at, label)]))
                at = table[(at, label)]
            if coord(at) == coord(dst):
                walks.append(walk)
        best = min(walks, key=len)  # min keeps the first (forward) on a tie
        route += best
        here = best[-1][2] if best else here
    return route


@pytest.mark.parametrize(
    ("topology", "n"),
    [("ring_1d", k) for k in (1, 2, 3, 4, 5, 8, 13, 64)]
    + [(t, k * k) for t in ("torus_2d", "mesh_2d_no_wrap") for k in (1, 2, 3, 4, 5, 8)],
)
def test_links_routes_and_first_hops_equal_the_all_pairs_answers(system, topology, n):
    sys_ = _system(system, topology, n)
    table = _reference_links(topology, n)
    links = sip_links(sys_)
    assert {(link.src, link.direction): link.dst for link in links} == table
    assert [link.src for link in links] == sorted(link.src for link in links)
    for sip in range(n):
        assert sip_neighbors(sys_, sip) == {d: table[(sip, d)] for d in "EWNS" if (sip, d) in table}
        assert links_from(sys_, sip) == tuple(link for link in links if link.src == sip)
        for dst in range(n):
            want = _reference_route(table, topology, n, sip, dst)
            got = [(link.src, link.direction, link.dst) for link in sip_route(sys_, sip, dst)]
            assert got == want, (sip, dst)
            if sip != dst:
                assert first_hop(sys_, sip, dst) == want[0][1]


def test_routes_are_minimal_on_a_torus(system):
    """On a 5x5 torus no route is longer than 2 + 2 hops, and the wrap-around is used when shorter."""
    torus = _system(system, "torus_2d", 25)
    assert max(len(sip_route(torus, 0, d)) for d in range(25)) == 4
    assert [(link.src, link.direction) for link in sip_route(torus, 0, 4)] == [(0, "W")]
    assert [(link.src, link.direction) for link in sip_route(torus, 0, 20)] == [(0, "N")]


def test_a_4096_sip_torus_routes_without_all_pairs_tables(system):
    torus = _system(system, "torus_2d", 4096)
    assert sip_neighbors(torus, 4095) == {"E": 4032, "W": 4094, "N": 4031, "S": 63}
    route = sip_route(torus, 0, 32 * 64 + 32)  # the far corner of the torus: 32 + 32 hops
    assert len(route) == 64
    assert first_hop(torus, 0, 32 * 64 + 32) == "E"
    assert first_hop(torus, 0, 33) == "W"


def test_non_square_2d_count_raises(system):
    with pytest.raises(TopologyError, match=r"system\.sip_count"):
        sip_links(_system(system, "torus_2d", 6))


def test_neighbors_range_check(system):
    with pytest.raises(ValueError, match=r"sip: expected 0\.\.1, got 2"):
        sip_neighbors(system, 2)
