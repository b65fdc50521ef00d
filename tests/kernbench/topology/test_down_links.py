"""Routes around failed inter-SIP links: shortest on what is left, hop by hop the same, refused when split."""

import random
from collections import deque
from dataclasses import replace

import pytest

from kernbench.topology import (
    SystemConfig,
    first_hop,
    link_key,
    parse_topology,
    sip_links,
    sip_neighbors,
    sip_route,
    unreachable,
)


@pytest.fixture
def system(default_raw) -> SystemConfig:
    return parse_topology(default_raw, "topology.yaml").system


def _bfs(system: SystemConfig, down: frozenset, dst: int) -> dict[int, int]:
    """Links to ``dst`` from every SIP it can be reached from, written independently of the module."""
    dist, queue = {dst: 0}, deque([dst])
    while queue:
        here = queue.popleft()
        for link in sip_links(system):
            if link.src == here and link.dst not in dist and link_key(link.src, link.dst) not in down:
                dist[link.dst] = dist[here] + 1
                queue.append(link.dst)
    return dist


@pytest.mark.parametrize(("topology", "n", "failures"), [("ring_1d", 8, 1), ("torus_2d", 16, 4), ("torus_2d", 9, 3)])
def test_routes_avoid_down_links_take_a_shortest_path_and_agree_hop_by_hop(system, topology, n, failures):
    sys_ = replace(system, topology=topology, sip_count=n)
    pairs = sorted({link_key(link.src, link.dst) for link in sip_links(sys_)})
    rng = random.Random(25)
    for _ in range(5):
        down = frozenset(rng.sample(pairs, failures))
        assert unreachable(sys_, down) is None
        for dst in range(n):
            dist = _bfs(sys_, down, dst)
            for src in range(n):
                route = sip_route(sys_, src, dst, down)
                assert all(link_key(link.src, link.dst) not in down for link in route)
                assert len(route) == dist[src]
                if route:  # the path a packet takes: each SIP's own next hop
                    assert route[0].direction == first_hop(sys_, src, dst, down)
                    assert route[1:] == sip_route(sys_, route[0].dst, dst, down)
                    assert route[-1].dst == dst


def test_a_route_that_misses_the_failed_link_keeps_its_dimension_order_path(system):
    torus = replace(system, topology="torus_2d", sip_count=16)
    down = frozenset({(5, 6)})
    assert sip_route(torus, 0, 10, down) == sip_route(torus, 0, 10)  # 0 -> 1 -> 2 -> 6 -> 10
    assert [(link.src, link.dst) for link in sip_route(torus, 5, 6, down)] == [(5, 4), (4, 7), (7, 6)]


def test_a_ring_with_one_link_down_goes_the_other_way_round(system):
    ring = replace(system, topology="ring_1d", sip_count=8)
    down = frozenset({(2, 3)})
    assert [link.dst for link in sip_route(ring, 2, 3, down)] == [1, 0, 7, 6, 5, 4, 3]
    assert first_hop(ring, 1, 4, down) == "W"
    assert first_hop(ring, 1, 2) == first_hop(ring, 1, 2, down) == "E"


def test_links_that_split_the_system_are_found(system):
    ring = replace(system, topology="ring_1d", sip_count=8)
    assert unreachable(ring, frozenset({(2, 3)})) is None
    assert unreachable(ring, frozenset({(2, 3), (5, 6)})) == 3
    with pytest.raises(ValueError, match="sip2 cannot reach sip4: the links down split the system"):
        first_hop(ring, 2, 4, frozenset({(2, 3), (5, 6)}))
    torus = replace(system, topology="torus_2d", sip_count=16)
    cut_off = frozenset(link_key(5, nb) for nb in sip_neighbors(torus, 5).values())
    assert unreachable(torus, cut_off) == 5
