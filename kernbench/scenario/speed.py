"""How long a SIP's PE operations take under a scenario: its slowdown, and each compute op's jitter.

A slowdown stands for a slower clock of the SIP's PEs: every operation of a PE unit takes that factor longer (the
PE_CPU's command decode, the DMA engine's descriptor set-up, GEMM, MATH, the MMU's lookups and walks), while data
moves at the rates of the memories, NoCs and links, which are not the PEs'.

Jitter multiplies a GEMM or MATH op's time by a lognormal factor of mean 1 and the scenario's relative standard
deviation (never negative, unlike a clipped normal; ``sigma^2 = ln(1 + cv^2)``). Each PE draws from its own
stream, seeded from the scenario's seed and the PE's name only (`pdes.lp.lp_rng`), in the order its program runs
its ops: which rank simulates the SIP, and what other PEs do meanwhile, change no draw
(docs/adr/0023-what-if-scenarios.md).
"""

from __future__ import annotations

import math

import numpy as np

from kernbench.scenario.model import Scenario
from pdes.lp import lp_rng


class PeSpeed:
    """The time factors of SIP ``sip``'s PEs under ``scenario``."""

    def __init__(self, scenario: Scenario, sip: int) -> None:
        self.sip = sip
        self.slowdown = scenario.slowdown(sip)
        self.seed = scenario.jitter_seed
        sigma2 = math.log1p(scenario.jitter**2)
        self._mu, self._sigma = -sigma2 / 2, math.sqrt(sigma2)
        self._streams: dict[tuple[int, int], np.random.Generator] = {}

    def compute_ns(self, cube: int, pe: int, ns: float) -> float:
        """A GEMM or MATH op of ``ns`` on PE (``cube``, ``pe``): slowed, and jittered by that PE's next draw."""
        ns *= self.slowdown
        if not self._sigma:
            return ns
        stream = self._streams.get((cube, pe))
        if stream is None:
            stream = self._streams[(cube, pe)] = lp_rng(self.seed, f"sip{self.sip}.cube{cube}.pe{pe}.jitter")
        return ns * float(stream.lognormal(self._mu, self._sigma))

    def unit_ns(self, ns: float) -> float:
        """Any other PE unit's op of ``ns`` (command decode, DMA set-up, MMU): slowed."""
        return ns * self.slowdown
