"""A what-if scenario, validated: slower SIPs, jitter, degraded and failed links, jobs that share the fabric.

Everything here is plain frozen data and the questions the engine asks of it (a SIP's slowdown, a link's rate, the
links down at a given instant). Nothing is random here: jitter draws come from per-PE streams seeded from the
scenario's seed and the PE's name (`kernbench.scenario.speed`), so a run is the same on any number of ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kernbench.topology import NONE_DOWN, Down, SystemConfig, link_key, sip_route


@dataclass(frozen=True)
class LinkChange:
    """A physical link between SIPs ``a < b`` (both directions): a new rate, or down from ``down_from_ns`` on."""

    a: int
    b: int
    bandwidth_gbs: float | None = None
    down_from_ns: float | None = None

    @property
    def label(self) -> str:
        return f"{self.a}-{self.b}"


@dataclass(frozen=True)
class Job:
    """A bench on its own SIPs (its world: rank r is SIP ``sips[r]``), with its own parameters."""

    bench: str
    sips: tuple[int, ...]
    params: tuple[tuple[str, Any], ...] = ()
    algorithm: str | None = None

    @property
    def name(self) -> str:
        return f"{self.bench}@{self.sips[0]}" if len(self.sips) == 1 else f"{self.bench}@{_span(self.sips)}"


@dataclass(frozen=True)
class Scenario:
    """What changes from the topology's ideal system; the empty scenario (`NO_SCENARIO`) changes nothing."""

    source: str = "<none>"
    slowdowns: tuple[tuple[int, float], ...] = ()
    """(SIP, factor): every compute op and DMA issue of the SIP's PEs takes ``factor`` times as long."""
    links: tuple[LinkChange, ...] = ()
    jitter: float = 0.0
    """Relative standard deviation of each compute op's time (GEMM, MATH)."""
    jitter_seed: int = 0
    jobs: tuple[Job, ...] = ()
    _slow: dict[int, float] = field(init=False, repr=False, compare=False)
    _rates: dict[tuple[int, int], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_slow", dict(self.slowdowns))
        rates = {(c.a, c.b): c.bandwidth_gbs for c in self.links if c.bandwidth_gbs is not None}
        object.__setattr__(self, "_rates", rates)

    def slowdown(self, sip: int) -> float:
        return self._slow.get(sip, 1.0)

    def rate(self, a: int, b: int) -> float | None:
        """The changed rate (GB/s, each direction) of the link between SIPs ``a`` and ``b``, None if unchanged."""
        return self._rates.get(link_key(a, b))

    @property
    def fails(self) -> bool:
        return any(c.down_from_ns is not None for c in self.links)

    def down_at(self, now_ns: float) -> Down:
        """The links down at ``now_ns`` (links that fail stay down)."""
        if not self.fails:
            return NONE_DOWN
        return frozenset((c.a, c.b) for c in self.links if c.down_from_ns is not None and c.down_from_ns <= now_ns)

    @property
    def down_at_start(self) -> Down:
        return self.down_at(0.0)

    @property
    def down_ever(self) -> Down:
        """Every link that is down at some point of a run."""
        return self.down_at(float("inf"))

    @property
    def fabric_only(self) -> Scenario:
        """This scenario without its jobs: what one job sees of it when it runs alone."""
        return Scenario(self.source, self.slowdowns, self.links, self.jitter, self.jitter_seed)

    @property
    def empty(self) -> bool:
        return not (self.slowdowns or self.links or self.jitter or self.jobs)

    def summary(self, system: SystemConfig | None = None) -> str:
        """The scenario in one line, e.g. ``sip3 2x slower; link 5-6 25 GB/s; link 9-10 down (9->10 over 3 links);
        compute jitter 5% (seed 1)``: with ``system``, how many links the traffic of each failed link now crosses."""
        parts = [f"sip{sip} {f:g}x slower" if f >= 1 else f"sip{sip} {1 / f:g}x faster" for sip, f in self.slowdowns]
        for c in self.links:
            if c.bandwidth_gbs is not None:
                parts.append(f"link {c.label} {c.bandwidth_gbs:g} GB/s")
            if c.down_from_ns is not None:
                when = f" from {c.down_from_ns / 1e3:g} us" if c.down_from_ns else ""
                detour = (
                    f" ({c.a}->{c.b} over {len(sip_route(system, c.a, c.b, self.down_ever))} links)" if system else ""
                )
                parts.append(f"link {c.label} down{when}{detour}")
        if self.jitter:
            parts.append(f"compute jitter {100 * self.jitter:g}% (seed {self.jitter_seed})")
        parts += [f"job {job.name}" for job in self.jobs]
        return "; ".join(parts) or "nothing changed"


NO_SCENARIO = Scenario()


def _span(sips: tuple[int, ...]) -> str:
    if list(sips) == list(range(sips[0], sips[0] + len(sips))):
        return f"{sips[0]}-{sips[-1]}"
    return ",".join(map(str, sips))
