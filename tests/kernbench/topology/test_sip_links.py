"""Inter-SIP links for each SIP topology and several sizes."""

from collections import Counter
from dataclasses import replace

import pytest

from kernbench.topology import (
    SystemConfig,
    TopologyError,
    min_link_latency_ns,
    parse_topology,
    sip_grid,
    sip_links,
    sip_neighbors,
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
        assert back.latency_ns == link.latency_ns > 0 and back.bandwidth_gbs == link.bandwidth_gbs
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


def test_links_are_sorted_and_deterministic(system):
    nine = _system(system, "torus_2d", 9)
    links = sip_links(nine)
    assert links == sip_links(nine)
    assert [link.src for link in links] == sorted(link.src for link in links)


def test_non_square_2d_count_raises(system):
    with pytest.raises(TopologyError, match=r"system\.sip_count"):
        sip_links(_system(system, "torus_2d", 6))


def test_neighbors_range_check(system):
    with pytest.raises(ValueError, match=r"sip: expected 0\.\.1, got 2"):
        sip_neighbors(system, 2)


def test_min_latency_is_the_configured_latency(system):
    assert min_link_latency_ns(_system(system, "torus_2d", 9)) == system.inter_sip_link.latency_ns
