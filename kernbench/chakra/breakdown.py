"""A rank's time as ASTRA-sim breaks it down: total, compute, exposed communication, and each collective's calls.

``compute`` is the time the SIP's compute stream is busy (device COMP nodes, one at a time). ``comm`` is the time at
least one collective or point-to-point node is in flight, and ``exposed_comm`` the part of it with no compute
running: the communication the dependencies did not let compute hide. ASTRA-sim prints total minus compute as its
exposed communication; the two agree when the rest of the rank's time is communication (no host-side or memory
nodes, no idle gaps), and ``other`` (total - compute - exposed) says how far they are apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Interval = tuple[float, float]


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of ``intervals`` as sorted, disjoint intervals."""
    out: list[list[float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def length(intervals: Iterable[Interval]) -> float:
    return sum(b - a for a, b in merged(intervals))


def exposed(comm: Iterable[Interval], compute: Iterable[Interval]) -> float:
    """How long ``comm``'s union runs while nothing of ``compute`` does."""
    busy = merged(compute)
    total = 0.0
    for a, b in merged(comm):
        overlap = sum(max(0.0, min(b, d) - max(a, c)) for c, d in busy if c < b and d > a)
        total += (b - a) - overlap
    return total


def rank_breakdown(
    rank: int, start: float, end: float, spans: list[tuple[str, str, int, str, float, float]]
) -> dict[str, Any]:
    """One rank's figures (ns) from its nodes' spans ``(kind, op, size, group, start, end)`` and the instant it
    started (``start``, the release of the barrier every rank starts from) and ended. Collectives are grouped by
    (op, size, group): ``[op, size, group, calls, summed time]``; messages by kind: ``[kind, calls, bytes, time]``."""
    compute = [(a, b) for kind, _, _, _, a, b in spans if kind == "compute"]
    comm = [(a, b) for kind, _, _, _, a, b in spans if kind in ("collective", "send", "recv")]
    collectives: dict[tuple[str, int, str], list[float]] = {}
    messages: dict[str, list[float]] = {}
    for kind, op, size, group, a, b in spans:
        if kind == "collective":
            row = collectives.setdefault((op, size, group), [0, 0.0])
            row[0] += 1
            row[1] += b - a
        elif kind in ("send", "recv"):
            row = messages.setdefault(kind, [0, 0, 0.0])
            row[0] += 1
            row[1] += size
            row[2] += b - a
    total = end - start
    busy = length(compute)
    hidden = exposed(comm, compute)
    return {
        "rank": rank,
        "total_ns": total,
        "compute_ns": busy,
        "exposed_comm_ns": hidden,
        "comm_ns": length(comm),
        "other_ns": total - busy - hidden,
        "nodes": len(spans),
        "collectives": [[op, size, group, int(n), t] for (op, size, group), (n, t) in sorted(collectives.items())],
        "messages": [[kind, int(n), int(nbytes), t] for kind, (n, nbytes, t) in sorted(messages.items())],
    }
