"""The directed SIP-to-SIP links of a system: the channels between the parallel engine's logical processes.

Each physical link is a pair of directed links, one per direction; the latency of each is a lower bound on how
soon a message sent on it can arrive, which makes it the engine's lookahead.

SIPs sit on a grid: ``ring_1d`` is one row of ``sip_count`` SIPs, the 2D topologies a ``k x k`` square
(``sip = y * k + x``). Direction labels follow the cube mesh: E is x + 1, W is x - 1, S is y + 1, N is y - 1.
``ring_1d`` and ``torus_2d`` wrap around; ``mesh_2d_no_wrap`` does not. Where wrapping would join two SIPs that are
already neighbours (rows of two), the physical link exists once: a -> b labelled E (or S) and b -> a labelled W
(or N), never two links between the same pair. One SIP has no links.

Everything here is closed-form arithmetic on grid coordinates: a SIP's links and a route cost O(1) and O(hops),
whatever the system's size, so a rank sets up only what its own SIPs need (docs/adr/0009-setup-linear-in-sips.md).
Only `sip_links`, which lists every link of the system (the engine declares them all), grows with the SIP count,
linearly.

Failed links (a what-if scenario's, `kernbench.scenario`) are given as ``down``: physical links as (lower SIP,
higher SIP) pairs, both directions out. A route whose dimension-order path avoids them keeps that path (it is then a
shortest path of what is left); otherwise it detours along a shortest path of what is left, found by a breadth-first
search from the destination (O(SIPs), cached per destination). Each SIP picks only its next hop, so packets are
forwarded hop by hop with the same answer on every rank, and every hop brings a packet one link closer.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from kernbench.topology.errors import TopologyError
from kernbench.topology.schema import SystemConfig

DIRECTIONS: tuple[str, ...] = ("E", "W", "N", "S")
Down = frozenset[tuple[int, int]]
"""Failed physical links, each as (lower SIP, higher SIP): both directions are out."""
NONE_DOWN: Down = frozenset()
OPPOSITE: dict[str, str] = {"E": "W", "W": "E", "N": "S", "S": "N"}
_AXES: tuple[tuple[int, str, str], ...] = ((0, "E", "W"), (1, "S", "N"))  # (axis, forward label, backward label)


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


def _wraps(system: SystemConfig) -> bool:
    return system.topology in ("ring_1d", "torus_2d")


def _step(pos: int, size: int, forward: bool, wrap: bool) -> int | None:
    """The coordinate one link away along an axis of ``size`` SIPs, or None where no such link exists.

    With wrap-around an axis of two has one physical link: forward from 0, backward from 1.
    """
    if wrap:
        if size >= 3 or (size == 2 and pos == (0 if forward else 1)):
            return (pos + (1 if forward else -1)) % size
        return None
    nxt = pos + (1 if forward else -1)
    return nxt if 0 <= nxt < size else None


def _check_sip(system: SystemConfig, sip: int, what: str) -> None:
    if not 0 <= sip < system.sip_count:
        raise ValueError(f"{what}: expected 0..{system.sip_count - 1}, got {sip}")


def sip_neighbors(system: SystemConfig, sip: int) -> dict[str, int]:
    """Direction label -> neighbouring SIP, for the links leaving ``sip`` (labels in E, W, N, S order)."""
    _check_sip(system, sip, "sip")
    w, h = sip_grid(system)
    wrap = _wraps(system)
    x, y = sip % w, sip // w
    out: dict[str, int] = {}
    for axis, forward, backward in _AXES:
        pos, size = (x, w) if axis == 0 else (y, h)
        for label, fwd in ((forward, True), (backward, False)):
            nxt = _step(pos, size, fwd, wrap)
            if nxt is not None:
                out[label] = y * w + nxt if axis == 0 else nxt * w + x
    return {d: out[d] for d in DIRECTIONS if d in out}


def links_from(system: SystemConfig, sip: int) -> tuple[SipLink, ...]:
    """The directed links leaving ``sip``, in E, W, N, S order."""
    lat, bw = system.inter_sip_link.latency_ns, system.inter_sip_link.bandwidth_gbs
    return tuple(SipLink(sip, dst, d, lat, bw) for d, dst in sip_neighbors(system, sip).items())


def sip_links(system: SystemConfig) -> tuple[SipLink, ...]:
    """All directed inter-SIP links, ordered by (src, direction E/W/N/S); no self links, no duplicates."""
    sip_grid(system)  # a non-square 2D count fails here, also for one SIP
    return tuple(link for sip in range(system.sip_count) for link in links_from(system, sip))


def min_link_latency_ns(system: SystemConfig) -> float | None:
    """The smallest inter-SIP latency (the global lookahead bound), or None when there are no links."""
    w, h = sip_grid(system)
    return system.inter_sip_link.latency_ns if w * h > 1 else None


def link_key(a: int, b: int) -> tuple[int, int]:
    """The physical link between SIPs ``a`` and ``b`` as `Down` names it."""
    return (a, b) if a < b else (b, a)


def sip_route(system: SystemConfig, src: int, dst: int, down: Down = NONE_DOWN) -> tuple[SipLink, ...]:
    """The inter-SIP links a packet from ``src`` to ``dst`` crosses: dimension order, X (E/W) first, then Y.

    Along each dimension it takes the shorter way round where the topology wraps (E or S on a tie), so a route
    is minimal and the same on every rank. An empty tuple when ``src == dst``. With links ``down``, the hops
    `first_hop` picks one SIP after the other (the path packets take).
    """
    _check_sip(system, src, "sip_route: src sip")
    _check_sip(system, dst, "sip_route: dst sip")
    w, h = sip_grid(system)
    lat, bw = system.inter_sip_link.latency_ns, system.inter_sip_link.bandwidth_gbs
    if down:
        hops = []
        while src != dst:
            label = first_hop(system, src, dst, down)
            nxt = sip_neighbors(system, src)[label]
            hops.append(SipLink(src, nxt, label, lat, bw))
            src = nxt
        return tuple(hops)
    route: list[SipLink] = []
    here = src
    for label, steps in _legs(system, w, h, src, dst):
        for _ in range(steps):
            nxt = sip_neighbors(system, here)[label]
            route.append(SipLink(here, nxt, label, lat, bw))
            here = nxt
    return tuple(route)


def first_hop(system: SystemConfig, src: int, dst: int, down: Down = NONE_DOWN) -> str:
    """The direction of the first link on the route from ``src`` to ``dst`` (which must differ), around the
    links ``down``: the dimension-order hop when that path is clear, else the first direction (E, W, N, S) whose
    neighbour is one link nearer on what is left. A ValueError when ``dst`` cannot be reached."""
    if src == dst:
        raise ValueError(f"first_hop: src and dst are both sip{src}")
    w, h = sip_grid(system)
    legs = _legs(system, w, h, src, dst)
    if not down or _clear(system, src, legs, down):
        return legs[0][0]
    dist = _distances(system, down, dst)
    if dist[src] < 0:
        raise ValueError(f"sip{src} cannot reach sip{dst}: the links down split the system")
    return next(
        d
        for d, nxt in sip_neighbors(system, src).items()
        if link_key(src, nxt) not in down and dist[nxt] == dist[src] - 1
    )


def unreachable(system: SystemConfig, down: Down) -> int | None:
    """The lowest SIP that SIP 0 cannot reach with the links ``down`` out (None: the system is still one)."""
    dist = _distances(system, down, 0)
    return next((sip for sip, d in enumerate(dist) if d < 0), None)


def _clear(system: SystemConfig, src: int, legs: list[tuple[str, int]], down: Down) -> bool:
    """Whether the dimension-order path of ``legs`` from ``src`` crosses no link that is down."""
    here = src
    for label, steps in legs:
        for _ in range(steps):
            nxt = sip_neighbors(system, here)[label]
            if link_key(here, nxt) in down:
                return False
            here = nxt
    return True


@lru_cache(maxsize=1024)
def _distances(system: SystemConfig, down: Down, dst: int) -> tuple[int, ...]:
    """Links from every SIP to ``dst`` on what is left with ``down`` out (-1: cut off); breadth-first."""
    dist = [-1] * system.sip_count
    dist[dst] = 0
    queue = deque([dst])
    while queue:
        here = queue.popleft()
        for nxt in sip_neighbors(system, here).values():
            if dist[nxt] < 0 and link_key(here, nxt) not in down:
                dist[nxt] = dist[here] + 1
                queue.append(nxt)
    return tuple(dist)


def _legs(system: SystemConfig, w: int, h: int, src: int, dst: int) -> list[tuple[str, int]]:
    """(direction label, link count) per dimension with a non-zero distance, X first."""
    wrap = _wraps(system)
    legs: list[tuple[str, int]] = []
    for axis, forward, backward in _AXES:
        here, there, size = (src % w, dst % w, w) if axis == 0 else (src // w, dst // w, h)
        if here == there:
            continue
        if wrap:
            ahead, behind = (there - here) % size, (here - there) % size
            label, steps = (forward, ahead) if ahead <= behind else (backward, behind)
            if _step(here, size, label == forward, wrap) is None:  # an axis of two: its one link goes the other way
                label = backward if label == forward else forward
        else:
            label, steps = (forward, there - here) if there > here else (backward, here - there)
        legs.append((label, steps))
    return legs
