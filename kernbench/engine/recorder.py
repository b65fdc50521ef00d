"""What a SIP records for ``--trace`` and ``--hw-stats``: one `SipRecorder` per SIP, or None when nothing is asked.

The model calls a recorder at the points where an interval or an event is known — a kernel ends on its PEs, a PE
unit finishes an operation, an IPCQ send starts or its data is there for the receiver, host code finishes a
phase — and only after one ``is None`` test, so a run that records nothing costs what it did before. Links
report to the recorder's `LinkProbe` (`kernbench.components.stats`).

Each rank records the SIPs it simulates; `SipRecorder.export` turns a SIP's records into plain data that the
engine gathers to rank 0 (`Engine.gather_records`), to be written there in a fixed order
(`kernbench.engine.trace_file`, `kernbench.engine.hw_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from kernbench.components.stats import LinkProbe, attach
from kernbench.engine.pe import UNITS

if TYPE_CHECKING:
    from kernbench.engine.pe import PeContext

DETAILS = ("kernels", "ops", "links")
"""Trace detail levels, each adding to the one before: kernel spans, host phases and requests, IPCQ flows; plus
DMA / GEMM / MATH / MMU operations; plus link busy intervals."""


@dataclass(frozen=True)
class Recording:
    """What to record: ``trace_sips`` (None: no trace) at ``detail``, and ``stats`` (hardware statistics), over the
    whole run or, with ``window``, only while each SIP's host is in that phase (a name of the phase table, such as
    ``kernel:all_reduce``: from its first request's start to its last one's end on that SIP)."""

    trace_sips: frozenset[int] | None = None
    detail: str = "ops"
    stats: bool = False
    window: str | None = None

    def __post_init__(self) -> None:
        if self.detail not in DETAILS:
            raise ValueError(f"trace detail must be one of {', '.join(DETAILS)}, got {self.detail!r}")

    def recorder(self, sip: int, env: simpy.Environment) -> SipRecorder | None:
        """The recorder of SIP ``sip`` (attached to its environment before its links are built), or None."""
        tracing = self.trace_sips is not None and sip in self.trace_sips
        if not (tracing or self.stats):
            return None
        return SipRecorder(sip, env, self.detail if tracing else None, self.stats, self.window if self.stats else None)


Span = tuple[tuple[Any, ...], str, float, float, dict[str, Any] | None]
"""(track, name, start ns, end ns, args): track ``("host", "phases")``, ``("host", "requests")`` or ``("pe", cube,
pe)``."""


class SipRecorder:
    """The records of one SIP; ``detail`` None: statistics only (the SIP is not traced)."""

    def __init__(
        self, sip: int, env: simpy.Environment, detail: str | None, stats: bool, window: str | None = None
    ) -> None:
        self.sip = sip
        self.env = env
        self.tracing = detail is not None
        self.ops = detail in ("ops", "links")
        self.stats = stats
        self.window = window  # the phase the statistics are cut to (`Recording.window`), or None
        self.window_span: list[float] | None = None  # [first start, last end] of that phase so far
        self.launches: list[tuple[float, tuple[int, int], list[float]]] = []  # with a window: (start, PE, busy)
        self.link_tracks = detail == "links"
        self.probe: LinkProbe | None = None
        if stats or detail == "links":
            self.probe = LinkProbe(intervals=self.link_tracks, clock=(lambda: env.now) if window else None)
            attach(env, self.probe)
        self.spans: list[Span] = []
        self.sends: list[tuple[int, int, int, int, float]] = []  # (slot, seq, cube, pe, t)
        self.recvs: list[tuple[int, int, int, int, float]] = []
        self.pes: dict[tuple[int, int], list[float]] = {}  # (cube, pe) -> [kernels, busy ns per unit of pe.UNITS]

    # -- calls from the model -------------------------------------------------------------------------------------

    def kernel(self, name: str, contexts: list[PeContext], start: float, end: float) -> None:
        """A launch of kernel ``name`` ran from ``start`` to ``end``; each PE's span ends when its program did."""
        for ctx in contexts:
            if self.tracing:
                self.spans.append(
                    (("pe", ctx.cube, ctx.pe), name, start, ctx.end_ns, {"kernel": name, "launch_exec_ns": end - start})
                )
            if self.window is not None:
                self.launches.append((start, (ctx.cube, ctx.pe), [ctx.busy[unit] for unit in UNITS]))
            if self.stats:
                totals = self.pes.get((ctx.cube, ctx.pe))
                if totals is None:
                    totals = self.pes[(ctx.cube, ctx.pe)] = [0.0] * (1 + len(UNITS))
                totals[0] += 1
                for i, unit in enumerate(UNITS, 1):
                    totals[i] += ctx.busy[unit]

    def op(self, cube: int, pe: int, unit: str, start: float, end: float, nbytes: int | None = None) -> None:
        """PE ``(cube, pe)``'s ``unit`` was busy from ``start`` to ``end`` (only called at detail ``ops``, for DMA,
        GEMM, MATH and MMU: PE_CPU command decodes, one per ``tl`` call, are counted but not drawn)."""
        self.spans.append((("pe", cube, pe), unit, start, end, None if nbytes is None else {"bytes": nbytes}))

    def send(self, slot: int, seq: int, cube: int, pe: int) -> None:
        """PE ``(cube, pe)`` starts IPCQ send ``seq`` into the receive slot at encoded address ``slot`` (the pair
        names one send: the same slot is reused only by later sequence numbers)."""
        self.sends.append((slot, seq, cube, pe, self.env.now))

    def recv(self, slot: int, seq: int, cube: int, pe: int) -> None:
        """The data of send ``seq`` into ``slot`` is there for PE ``(cube, pe)``'s kernel."""
        self.recvs.append((slot, seq, cube, pe, self.env.now))

    def wants(self, phase: str) -> bool:
        """Whether host phase ``phase`` is recorded (`phase`): for the trace, or as the statistics' window."""
        return self.tracing or phase == self.window

    def phase(self, phase: str, requests: list[tuple[str, float, float, int]]) -> None:
        """Host code finished ``phase``: its requests ``(name, start, end, bytes)``, issued together."""
        if not requests:
            return
        first, last = min(r[1] for r in requests), max(r[2] for r in requests)
        if phase == self.window:
            span = self.window_span
            self.window_span = [first, last] if span is None else [min(span[0], first), max(span[1], last)]
        if not self.tracing:
            return
        self.spans.append((("host", "phases"), phase, first, last, {"requests": len(requests)}))
        for name, start, end, nbytes in requests:
            self.spans.append(
                (("host", "requests"), name, start, end, {"phase": phase, "bytes": nbytes, "latency_ns": end - start})
            )

    # -- the end of a run ------------------------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Everything recorded, as plain data (msgpack- and JSON-ready), in an order that does not depend on the
        partition: the SIP's own event order, which is the same on any rank."""
        probe = self.probe
        return {
            "sip": self.sip,
            "now": float(self.env.now),
            "traced": self.tracing,
            "spans": [[list(track), name, start, end, args] for track, name, start, end, args in self.spans],
            "sends": [list(s) for s in self.sends],
            "recvs": [list(r) for r in self.recvs],
            "link_intervals": (
                {name: [list(i) for i in ivs] for name, ivs in probe.intervals().items() if ivs}
                if probe is not None and self.link_tracks
                else {}
            ),
            "links": probe.links() if probe is not None and self.stats else [],
            "hbm": probe.hbm() if probe is not None and self.stats else [],
            "pes": [[cube, pe, *totals] for (cube, pe), totals in sorted(self.pes.items())],
            **(self._windowed() if self.window is not None else {}),
        }

    def _windowed(self) -> dict[str, Any]:
        """The statistics cut to this SIP's span of the window phase (none if it never ran that phase)."""
        span, probe = self.window_span, self.probe
        if span is None or probe is None:
            return {"window": None, "links": [], "hbm": [], "pes": []}
        t0, t1 = span
        pes: dict[tuple[int, int], list[float]] = {}
        for start, pe, busy in self.launches:
            if t0 <= start <= t1:
                totals = pes.setdefault(pe, [0.0] * (1 + len(UNITS)))
                totals[0] += 1
                for i, ns in enumerate(busy, 1):
                    totals[i] += ns
        return {
            "window": span,
            "links": probe.window_links(t0, t1),
            "hbm": probe.window_hbm(t0, t1),
            "pes": [[cube, pe, *totals] for (cube, pe), totals in sorted(pes.items())],
        }
