"""What a SIP records for ``--hw-stats``: one `SipRecorder` per SIP, or None when nothing is asked.

The model calls a recorder at the points where an interval is known — a kernel ends on its PEs — and only after
one ``is None`` test, so a run that records nothing costs what it did before. Links report to the recorder's
`LinkProbe` (`kernbench.components.stats`).

Each rank records the SIPs it simulates; `SipRecorder.export` turns a SIP's records into plain data that the
engine gathers to every rank (`Engine.gather_records`), to be written by rank 0 in a fixed order
(`kernbench.engine.hw_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from kernbench.components.stats import LinkProbe, attach
from kernbench.engine.pe import UNITS

if TYPE_CHECKING:
    from kernbench.engine.pe import PeContext


@dataclass(frozen=True)
class Recording:
    """What to record: ``stats`` (hardware statistics)."""

    stats: bool = False

    def recorder(self, sip: int, env: simpy.Environment) -> SipRecorder | None:
        """The recorder of SIP ``sip`` (attached to its environment before its links are built), or None."""
        return SipRecorder(sip, env) if self.stats else None


class SipRecorder:
    """The records of one SIP."""

    def __init__(self, sip: int, env: simpy.Environment) -> None:
        self.sip = sip
        self.env = env
        self.probe = LinkProbe(intervals=False)
        attach(env, self.probe)
        self.pes: dict[tuple[int, int], list[float]] = {}  # (cube, pe) -> [kernels, busy ns per unit of pe.UNITS]

    def kernel(self, name: str, contexts: list[PeContext], start: float, end: float) -> None:
        """A launch of kernel ``name`` ran from ``start`` to ``end``: its PEs' busy time per unit."""
        for ctx in contexts:
            totals = self.pes.get((ctx.cube, ctx.pe))
            if totals is None:
                totals = self.pes[(ctx.cube, ctx.pe)] = [0.0] * (1 + len(UNITS))
            totals[0] += 1
            for i, unit in enumerate(UNITS, 1):
                totals[i] += ctx.busy[unit]

    def export(self) -> dict[str, Any]:
        """Everything recorded, as plain data (msgpack- and JSON-ready), in an order that does not depend on the
        partition."""
        return {"sip": self.sip, "now": float(self.env.now), "links": self.probe.links(), "hbm": self.probe.hbm(),
                "pes": [[cube, pe, *totals] for (cube, pe), totals in sorted(self.pes.items())]}
