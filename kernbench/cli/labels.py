"""Short labels for sets of SIPs and ranks, so text output grows with the number of runs, not of members.

``sip0,sip2,sip5-sip9 (7 SIPs)`` names seven SIPs in one line whether there are seven or seven thousand.
"""

from __future__ import annotations

from collections.abc import Iterable


def count(n: int, noun: str) -> str:
    """``1 SIP``, ``7 SIPs``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def spans(numbers: Iterable[int], prefix: str = "") -> str:
    """Sorted runs of consecutive numbers: ``[0, 2, 5, 6, 7]`` -> ``0,2,5-7``; ``prefix`` goes before each number
    (``sip0,sip2,sip5-sip7``)."""
    parts: list[str] = []
    ordered = sorted(set(numbers))
    start = 0
    for i, n in enumerate(ordered):
        if i + 1 == len(ordered) or ordered[i + 1] != n + 1:
            lo = ordered[start]
            parts.append(f"{prefix}{lo}" if lo == n else f"{prefix}{lo}-{prefix}{n}")
            start = i + 1
    return ",".join(parts)


def sip_set(sips: list[int]) -> str:
    """``sip7`` for one SIP, ``sip3-sip99 (97 SIPs)`` or ``sip0,sip2,sip5-sip9 (7 SIPs)`` for more."""
    label = spans(sips, "sip")
    return label if len(sips) == 1 else f"{label} ({count(len(sips), 'SIP')})"
