"""The PHOLD LP state machine and its two drivers (pdes, plain SimPy)."""

from __future__ import annotations

import hashlib
import math
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ..clock import schedule_at
from ..codec import encode
from ..lp import LP, lp_rng
from ..model import Model
from ..simulation import RunResult, Simulation

__all__ = ["PholdLP", "PholdParams", "build_model", "digest", "run_pdes", "run_simpy"]

_PACK_TIME = struct.Struct("<d").pack


@dataclass(frozen=True)
class PholdParams:
    lps: int = 64
    events_per_lp: int = 8
    remote: float = 0.5
    lookahead: float = 1.0
    mean: float = 1.0
    seed: int = 7
    work_us: float = 0.0

    def __post_init__(self) -> None:
        for name, ok, rule in param_checks(self):
            if not ok:
                raise ValueError(f"phold: {name} must be {rule}, got {getattr(self, name)!r}")

    def lp_name(self, i: int) -> str:
        return f"lp{i}"


def param_checks(p: PholdParams) -> list[tuple[str, bool, str]]:
    """(field, valid, rule) for every parameter (the CLI reuses the rules to name its flags)."""
    finite = math.isfinite
    return [
        ("lps", p.lps >= 1, "an integer >= 1"),
        ("events_per_lp", p.events_per_lp >= 0, "an integer >= 0"),
        ("remote", 0.0 <= p.remote <= 1.0, "a number in [0, 1]"),
        ("lookahead", finite(p.lookahead) and p.lookahead > 0, "a finite number > 0"),
        ("mean", finite(p.mean) and p.mean >= 0, "a finite number >= 0"),
        ("seed", 0 <= p.seed < 2**64, "an integer in [0, 2**64)"),
        ("work_us", finite(p.work_us) and p.work_us >= 0, "a finite number >= 0"),
    ]


class UniformStream:
    """Uniform draws from an LP's generator, fetched in blocks (scalar numpy calls are slow).

    Blocks start small and double up to ``block``, so that 10,000 idle LPs do not hold 4,096
    floats each; the draws are the same for any block sizes.
    """

    def __init__(self, rng: np.random.Generator, block: int = 4096, first: int = 64) -> None:
        self._rng = rng
        self._block = block
        self._next_block = min(first, block)
        self._buf: list[float] = []
        self._pos = 0
        self.draws = 0

    def next(self) -> float:
        if self._pos == len(self._buf):
            self._buf = self._rng.random(self._next_block).tolist()
            self._next_block = min(2 * self._next_block, self._block)
            self._pos = 0
        self._pos += 1
        self.draws += 1
        return self._buf[self._pos - 1]


class PholdLP:
    """One PHOLD LP's state; ``on_event`` says where the next event goes."""

    def __init__(self, params: PholdParams, index: int, rng: np.random.Generator) -> None:
        self.p = params
        self.index = index
        self.stream = UniformStream(rng)
        self.count = 0
        self.last = 0.0
        self.crc = 0

    def expo(self) -> float:
        return -self.p.mean * math.log1p(-self.stream.next())

    def on_event(self, now: float) -> tuple[int | None, float]:
        """Handle an event at ``now``; return (destination LP or None for self, extra delay)."""
        self.count += 1
        self.last = now
        self.crc = zlib.crc32(_PACK_TIME(now), self.crc)
        if self.p.work_us:
            _burn(self.p.work_us)
        remote = self.stream.next() < self.p.remote and self.p.lps > 1
        delay = self.expo()
        if not remote:
            return None, delay
        j = int(self.stream.next() * (self.p.lps - 1))
        return (j if j < self.index else j + 1), delay

    def report(self) -> list:
        return [self.count, self.last, self.crc, self.stream.draws]


def _burn(us: float) -> None:
    end = time.perf_counter() + us * 1e-6
    while time.perf_counter() < end:
        pass


def digest(reports: list) -> str:
    """Hash of every LP's final state, in LP order."""
    return hashlib.sha256(encode(reports)).hexdigest()[:16]


# --- pdes ---------------------------------------------------------------------
def build_model(params: PholdParams, link_group: bool = True) -> Model:
    """PHOLD as a pdes model: one LP per PHOLD LP, all-to-all links of latency ``lookahead``.

    The links are one :meth:`Model.add_link_group` (O(LPs) to build); ``link_group=False``
    declares the ``lps * (lps - 1)`` links one by one instead (same results; for tests).
    """
    model = Model(seed=params.seed)
    names = [params.lp_name(i) for i in range(params.lps)]
    lookahead = params.lookahead

    def build(lp: LP) -> PholdLP:
        state = PholdLP(params, lp.index, lp.rng)
        env = lp.env

        def act(_event_or_message: object) -> None:
            # A local event's callback and the message handler alike: a message runs at exactly its
            # timestamp, so ``now`` is the event time either way.
            now = env._now
            dst, delay = state.on_event(now)
            if dst is None:
                env.call_at(now + lookahead + delay, act)
            else:
                lp.send(names[dst], None, delay)

        lp.on_receive(act)
        for _ in range(params.events_per_lp):
            env.call_at(env.now + lookahead + state.expo(), act)
        return state

    for name in names:
        model.add_lp(name, build, report=PholdLP.report)
    if params.remote > 0 and link_group:
        model.add_link_group(names, lookahead)
    elif params.remote > 0:
        for src in names:
            for dst in names:
                if src != dst:
                    model.add_link(src, dst, lookahead)
    return model


def run_pdes(
    params: PholdParams,
    until: float,
    progress: Callable[[dict], None] | None = None,
    model: Model | None = None,
    **sim_options: Any,
) -> tuple[str, int, float, RunResult]:
    """Run PHOLD on pdes; returns (digest, PHOLD events, wall seconds of the run, run result).

    ``model``: one :func:`build_model` made from ``params`` already (default: build it).
    """
    sim = Simulation(build_model(params) if model is None else model, **sim_options)
    t0 = time.perf_counter()
    result = sim.run(until=until, progress=progress)
    wall = time.perf_counter() - t0
    reports = list(result.results.values())
    return digest(reports), sum(r[0] for r in reports), wall, result


# --- plain SimPy reference ----------------------------------------------------------
def run_simpy(params: PholdParams, until: float) -> tuple[str, int, float]:
    """The same model in one plain SimPy environment, without the pdes engine.

    Returns (digest, PHOLD events, wall seconds of the run).
    """
    env = simpy.Environment()
    lookahead = params.lookahead
    states = [PholdLP(params, i, lp_rng(params.seed, params.lp_name(i))) for i in range(params.lps)]

    def schedule(target: int, when: float) -> None:
        event = simpy.Event(env)
        event._ok = True
        event._value = target
        event.callbacks.append(fire)
        schedule_at(env, event, when)

    def fire(event: simpy.Event) -> None:
        target = event._value
        now = env._now
        dst, delay = states[target].on_event(now)
        schedule(target if dst is None else dst, now + lookahead + delay)

    for i, state in enumerate(states):
        for _ in range(params.events_per_lp):
            schedule(i, 0.0 + lookahead + state.expo())
    t0 = time.perf_counter()
    env.run(until=until)
    wall = time.perf_counter() - t0
    reports = [s.report() for s in states]
    return digest(reports), sum(r[0] for r in reports), wall
