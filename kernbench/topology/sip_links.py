"""The directed SIP-to-SIP links of a system: the channels between the parallel engine's logical processes.

Each physical link is a pair of directed links, one per direction; the latency of each is a lower bound on how
soon a message sent on it can arrive, which makes it the engine's lookahead.

SIPs sit on a grid: ``ring_1d`` is one row of ``sip_count`` SIPs, the 2D topologies a ``k x k`` square
(``sip = y * k + x``). Direction labels follow the cube mesh: E is x + 1, W is x - 1, S is y + 1, N is y - 1.
``ring_1d`` and ``torus_2d`` wrap around; ``mesh_2d_no_wrap`` does not. Where wrapping would join two SIPs that are
already neighbours (rows of two), the physical link exists once: a -> b labelled E (or S) and b -> a labelled W
(or N), never two links between the same pair. One SIP has no links.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kernbench.topology.errors import TopologyError
from kernbench.topology.schema import SystemConfig

DIRECTIONS: tuple[str, ...] = ("E", "W", "N", "S")
OPPOSITE: dict[str, str] = {"E": "W", "W": "E", "N": "S", "S": "N"}


@dataclass(frozen=True)
class SipLink:
    """One direction of an inter-SIP link."""

    src: int
    dst: int
    direction: str
    latency_ns: float
    bandwidth_gbs: float


def sip_grid(system: SystemConfig) -> tuple[int, int]:
    """(width, height) of the SIP grid; raises TopologyError when a 2D topology gets a non-square count."""
    n = system.sip_count
    if system.topology == "ring_1d":
        return n, 1
    side = math.isqrt(n)
    if side * side != n:
        raise TopologyError(
            "<system>", "system.sip_count", f"system.topology {system.topology} needs a square SIP count, got {n}"
        )
    return side, side


def sip_links(system: SystemConfig) -> tuple[SipLink, ...]:
    """All directed inter-SIP links, ordered by (src, direction E/W/N/S); no self links, no duplicates."""
    w, h = sip_grid(system)
    wrap = system.topology in ("ring_1d", "torus_2d")
    lat, bw = system.inter_sip_link.latency_ns, system.inter_sip_link.bandwidth_gbs
    seen: set[frozenset[int]] = set()
    links: list[SipLink] = []
    for y in range(h):
        for x in range(w):
            a = y * w + x
            # (neighbour x, neighbour y, label a -> b) for the east and south link of SIP a
            for nx, ny, label in ((x + 1, y, "E"), (x, y + 1, "S")):
                if wrap:
                    nx, ny = nx % w, ny % h
                elif nx >= w or ny >= h:
                    continue
                b = ny * w + nx
                if a == b or frozenset((a, b)) in seen:
                    continue
                seen.add(frozenset((a, b)))
                links.append(SipLink(a, b, label, lat, bw))
                links.append(SipLink(b, a, OPPOSITE[label], lat, bw))
    order = {d: i for i, d in enumerate(DIRECTIONS)}
    return tuple(sorted(links, key=lambda link: (link.src, order[link.direction])))


def sip_neighbors(system: SystemConfig, sip: int) -> dict[str, int]:
    """Direction label -> neighbouring SIP, for the links leaving ``sip``."""
    if not 0 <= sip < system.sip_count:
        raise ValueError(f"sip: expected 0..{system.sip_count - 1}, got {sip}")
    return {link.direction: link.dst for link in sip_links(system) if link.src == sip}


def min_link_latency_ns(system: SystemConfig) -> float | None:
    """The smallest inter-SIP latency (the global lookahead bound), or None when there are no links."""
    links = sip_links(system)
    return min(link.latency_ns for link in links) if links else None


def sip_route(system: SystemConfig, src: int, dst: int) -> tuple[SipLink, ...]:
    """The inter-SIP links a packet from ``src`` to ``dst`` crosses: dimension order, X (E/W) first, then Y.

    Along each dimension it takes the shorter way round where the topology wraps (E or S on a tie), so a route
    is minimal and the same on every rank. An empty tuple when ``src == dst``.
    """
    n = system.sip_count
    for label, sip in (("src", src), ("dst", dst)):
        if not 0 <= sip < n:
            raise ValueError(f"sip_route: {label} sip {sip}: expected 0..{n - 1}")
    w, h = sip_grid(system)
    wrap = system.topology in ("ring_1d", "torus_2d")
    by_hop = {(link.src, link.direction): link for link in sip_links(system)}
    x, y = src % w, src // w
    tx, ty = dst % w, dst // w
    route: list[SipLink] = []
    for size, forward, backward, axis in ((w, "E", "W", 0), (h, "S", "N", 1)):
        here, there = (x, tx) if axis == 0 else (y, ty)
        ahead = (there - here) % size if wrap else there - here
        behind = (here - there) % size if wrap else here - there
        steps, label = (ahead, forward) if ahead >= 0 and (not wrap or ahead <= behind) else (behind, backward)
        if steps and (y * w + x, label) not in by_hop:  # a row of two has one physical link: E one way, W back
            label = backward if label == forward else forward
        for _ in range(steps):
            link = by_hop[(y * w + x, label)]
            route.append(link)
            x, y = link.dst % w, link.dst // w
    return tuple(route)
