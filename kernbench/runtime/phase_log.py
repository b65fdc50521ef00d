"""Per-phase totals of one SIP's host requests (copies, maps, kernel launches), in memory that does not grow.

A bench that loops over kernel launches for hours must not keep a record per request (it grew RSS by about
0.6 MB/s). Counts, latency, bytes and kernel figures are sums; the span (the time during which at least one
request of the phase was in flight) needs the requests' intervals, which are kept raw up to `RAW_INTERVALS` per
phase and then merged; when even the merged ones exceed that, the oldest half is folded into a closed total.
A request that starts before the folded part ends is clipped to its end, so a span is exact unless one request
outlived `RAW_INTERVALS` / 2 disjoint stretches of its phase.
"""

from __future__ import annotations

import math
from typing import Any

RAW_INTERVALS = 4096


class _Phase:
    __slots__ = ("closed_ns", "closed_until", "intervals", "totals")

    def __init__(self, name: str) -> None:
        self.totals: dict[str, Any] = {"phase": name, "count": 0, "latency_ns": 0.0, "nbytes": 0}
        self.intervals: list[tuple[float, float]] = []
        self.closed_ns = 0.0
        self.closed_until = -math.inf

    def add(self, start: float, end: float) -> None:
        self.intervals.append((max(start, self.closed_until), max(end, self.closed_until)))
        if len(self.intervals) > RAW_INTERVALS:
            self.intervals = _merged(self.intervals)
            if len(self.intervals) > RAW_INTERVALS // 2:
                old, self.intervals = self.intervals[: RAW_INTERVALS // 4], self.intervals[RAW_INTERVALS // 4 :]
                self.closed_ns += _union_length(old)
                self.closed_until = old[-1][1]

    def span_ns(self) -> float:
        return self.closed_ns + _union_length(self.intervals)


class PhaseLog:
    """What a SIP's host requests did, by phase in order of first use (see `totals`)."""

    def __init__(self) -> None:
        self._phases: dict[str, _Phase] = {}

    def add(
        self,
        phase: str,
        start_ns: float,
        end_ns: float,
        latency_ns: float,
        nbytes: int,
        detail: dict[str, Any] | None = None,
    ) -> None:
        entry = self._phases.get(phase)
        if entry is None:
            entry = self._phases[phase] = _Phase(phase)
        g = entry.totals
        g["count"] += 1
        g["latency_ns"] += latency_ns
        g["nbytes"] += nbytes
        entry.add(start_ns, end_ns)
        if detail and "exec_ns" in detail:
            kernel = g.setdefault("kernel", {"pes": 0, "exec_ns": 0.0, "flops": 0, "dma_bytes": 0, "busy_ns": {}})
            for key in ("pes", "exec_ns", "flops", "dma_bytes"):
                kernel[key] += detail.get(key, 0)
            for unit, ns in detail.get("busy_ns", {}).items():
                kernel["busy_ns"][unit] = kernel["busy_ns"].get(unit, 0.0) + ns

    def totals(self) -> list[dict[str, Any]]:
        """Per phase: request count, summed latency, bytes, ``span_ns`` (requests issued together overlap, so
        their summed latency overstates the time the phase took) and, for kernel phases, their launches'
        ``exec_ns``, ``flops``, ``dma_bytes``, PE count and per-unit ``busy_ns``."""
        out = []
        for entry in self._phases.values():
            g = {**entry.totals, "span_ns": entry.span_ns()}
            if "kernel" in g:
                g["kernel"] = {**g["kernel"], "busy_ns": dict(g["kernel"]["busy_ns"])}
            out.append(g)
        return out


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, reach = 0.0, -math.inf
    for lo, hi in sorted(intervals):
        if hi > reach:
            total += hi - max(lo, reach)
            reach = hi
    return total
