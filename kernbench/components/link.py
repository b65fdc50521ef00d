"""Directed links with bandwidth occupancy, and timed transfers of n bytes over a path of them.

The timing model (times in ns as floats, bandwidth in GB/s = bytes per ns)
--------------------------------------------------------------------------
A transfer is a stream of ``n`` bytes with a *head* (first byte) and a *tail* (last byte). It passes a path of
stages; a stage is a `Link`, or a `Fanout` (parallel links that each carry a share of the bytes: HBM slices).
Link ``i`` has an overhead ``o_i`` (fixed cost paid by the head there: port, PHY, arbitration), a propagation
delay ``p_i = length_mm * ns_per_mm`` and a bandwidth ``bw_i``. With ``h_i`` the time the head reaches link i
and ``T_i`` the time the tail reaches it (``h_1 = T_1 = start``: the source holds all the bytes)::

    s_i     = max(h_i, free_i)                      FIFO: the link serves one transfer at a time, in head order
    free_i  = s_i + n / bw_i                        occupancy: the link is busy n / bw_i from when it got the head
    h_i+1   = s_i + o_i + p_i                       cut-through: the head moves on at once
    T_i+1   = max(h_i+1 + n / bw_i, T_i + o_i + p_i)   the body streams at the slowest rate met so far

and the transfer ends at ``T`` after the last stage. On an idle path this is exactly
``start + sum(o) + sum(p) + n / min(bw)`` (by induction ``T_i+1 = h_i+1 + n / min(bw_1..bw_i)``). A second
transfer on a busy link starts streaming when the first has left it (``free_i``), so two equal transfers on one
link finish about twice as late as one; a transfer queued behind a long one on a shared first link is delayed
although its later links are idle (head-of-line blocking at that port).

Deliberate simplifications: links reserve bandwidth, they do not exert backpressure — a transfer that waits at
link i does not hold link i-1 (routers buffer without limit, "virtual cut-through"), and occupancy is counted as
one interval of ``n / bw_i`` even where a slow upstream link makes the bytes trickle through a fast link. Over
any long window a link carries no more than ``bw_i`` bytes per ns, which is what contention needs.

A `Fanout` stage gives each branch ``(link, b_j)`` the rules above with ``b_j`` bytes, reached by the same head
and tail; the stage passes on the latest branch head and the latest branch tail (the data joins again).

Breakdown of a `TransferTiming`: ``overhead_ns`` and ``wire_ns`` sum ``o`` and ``p`` over the stages (for a
fanout, those of the branch whose head left last), ``queueing_ns`` sums the waits ``s - h``, and
``serialization_ns`` (the drain) is end minus the time the head reached the destination; the four add up to
the latency. Every time is computed as a sum in a fixed order from the start time, and the process wakes at
exactly those values (`pdes.clock.wake_at`), so results do not depend on float drift of ``now``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import simpy

from kernbench.components.stats import probe_of
from pdes.clock import wake_at

T = TypeVar("T")

Flow = Generator[simpy.Event, Any, T]
"""The body of a SimPy process that ends with a ``T``: it yields events, and SimPy sends back each one's value,
which the type system cannot tie to the event (hence Any)."""


class Link:
    """A directed channel: FIFO, one transfer at a time, busy ``bytes / bandwidth_gbs`` per transfer."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        bandwidth_gbs: float,
        overhead_ns: float = 0.0,
        length_mm: float = 0.0,
        ns_per_mm: float = 0.0,
    ) -> None:
        if not name:
            raise ValueError("Link: name must not be empty")
        if not bandwidth_gbs > 0:
            raise ValueError(f"Link {name}: bandwidth_gbs must be > 0, got {bandwidth_gbs!r}")
        for label, value in (("overhead_ns", overhead_ns), ("length_mm", length_mm), ("ns_per_mm", ns_per_mm)):
            if not value >= 0:
                raise ValueError(f"Link {name}: {label} must be >= 0, got {value!r}")
        self.env = env
        self.name = name
        self.bandwidth_gbs = float(bandwidth_gbs)
        self.overhead_ns = float(overhead_ns)
        self.length_mm = float(length_mm)
        self.ns_per_mm = float(ns_per_mm)
        self.wire_ns = self.length_mm * self.ns_per_mm
        self.free_at = float("-inf")
        self.bytes_carried = 0
        self.busy_ns = 0.0
        self.transfers = 0
        self.probe = probe_of(env)  # None unless statistics or link traces are recorded (`components.stats`)

    def reserve(self, arrive: float, nbytes: int) -> float:
        """Queue a head that reaches the link at ``arrive``; return when the link starts serving it."""
        start = arrive if arrive >= self.free_at else self.free_at
        busy = nbytes / self.bandwidth_gbs
        self.free_at = start + busy
        self.bytes_carried += nbytes
        self.busy_ns += busy
        self.transfers += 1
        if self.probe is not None:
            self.probe.reserved(self, arrive, start, busy, nbytes)
        return start

    def __repr__(self) -> str:
        return (
            f"Link({self.name!r}, {self.bandwidth_gbs} GB/s, overhead {self.overhead_ns} ns, "
            f"{self.length_mm} mm x {self.ns_per_mm} ns/mm)"
        )


@dataclass(frozen=True)
class Fanout:
    """A stage whose bytes divide among parallel links (``branches``: (link, bytes) pairs), e.g. HBM slices."""

    name: str
    branches: tuple[tuple[Link, int], ...]

    def __post_init__(self) -> None:
        if not self.branches:
            raise ValueError(f"Fanout {self.name}: needs at least one branch")
        for link, nbytes in self.branches:
            if nbytes < 0:
                raise ValueError(f"Fanout {self.name}: branch {link.name} has {nbytes} bytes (< 0)")

    @property
    def nbytes(self) -> int:
        return sum(nbytes for _, nbytes in self.branches)


Stage = Link | Fanout


class HopTrace(NamedTuple):
    """One link a transfer used: when its head entered (was served), when its tail left, how long it queued."""

    link: str
    head_in: float
    tail_out: float
    queued_ns: float


_new_hop = tuple.__new__
"""``_new_hop(HopTrace, (link, head_in, tail_out, queued_ns))``: a `HopTrace` without the named tuple's
Python-level ``__new__``; `_run` makes one per hop of every transfer."""


class TransferTiming(NamedTuple):
    """When a transfer started and ended, and where the time went (see the module docstring).

    A named tuple like `HopTrace`, not a frozen dataclass: every transfer makes one, and a tuple is built
    several times faster.
    """

    start: float
    end: float
    nbytes: int
    overhead_ns: float
    wire_ns: float
    serialization_ns: float
    queueing_ns: float
    hops: tuple[HopTrace, ...]

    @property
    def latency_ns(self) -> float:
        return self.end - self.start

    @property
    def bandwidth_gbs(self) -> float:
        """Effective bandwidth: bytes over the whole latency (GB/s = bytes per ns)."""
        return self.nbytes / self.latency_ns if self.latency_ns > 0 else float("inf")


def _check_path(stages: tuple[Stage, ...], nbytes: int) -> simpy.Environment:
    """The environment every link of ``stages`` belongs to; raises for a bad stage (first), a foreign link or a
    fan-out that does not split exactly ``nbytes``. One pass: every transfer is checked."""
    first: Link | None = None
    foreign: Link | None = None
    fanouts: list[Fanout] = []
    for stage in stages:
        if isinstance(stage, Link):
            links: tuple[Link, ...] = (stage,)
        elif isinstance(stage, Fanout):
            links = tuple(link for link, _ in stage.branches)
            fanouts.append(stage)
        else:
            raise TypeError(f"transfer: a path holds Link or Fanout stages, got {stage!r}")
        for link in links:
            if first is None:
                first = link
            elif link.env is not first.env and foreign is None:
                foreign = link
    assert first is not None
    if foreign is not None:
        raise ValueError(f"transfer: link {foreign.name} belongs to another environment than {first.name}")
    for fanout in fanouts:
        if fanout.nbytes != nbytes:
            raise ValueError(f"transfer: fanout {fanout.name} splits {fanout.nbytes} bytes, the transfer has {nbytes}")
    return first.env


def transfer(
    path: Sequence[Stage],
    nbytes: int,
    *,
    tail_lag: float = 0.0,
    release: str = "tail",
    hops: bool = True,
    check: bool = True,
) -> simpy.Process:
    """Move ``nbytes`` along ``path`` from now on; the process's value is the `TransferTiming`.

    ``tail_lag``: the stream's head enters now and its tail ``tail_lag`` ns later (bytes still arriving from
    upstream, e.g. over an inter-SIP link); 0 when the source holds every byte. ``release``: ``"tail"`` ends the
    process when the last byte arrives; ``"head"`` ends it when the first byte reaches the end of the path (the
    tail's time is already fixed then and is the timing's ``end``), so the caller can forward the stream on.
    ``hops``: list each link's `HopTrace` in the timing (False: ``hops`` is empty, for runs that report no
    per-hop timings). ``check=False`` skips the checks of the arguments and the path, for paths the model built
    itself (every transfer of a run passes here).
    """
    stages = tuple(path)
    if not check:
        first = stages[0]
        env = first.env if isinstance(first, Link) else first.branches[0][0].env
        return env.process(_run(env, stages, nbytes, tail_lag, release, hops))
    if release not in ("tail", "head"):
        raise ValueError(f"transfer: release must be 'tail' or 'head', got {release!r}")
    if not tail_lag >= 0:
        raise ValueError(f"transfer: tail_lag must be >= 0, got {tail_lag!r}")
    if not stages:
        raise ValueError("transfer: the path is empty")
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"transfer: nbytes must be an int >= 0, got {nbytes!r}")
    env = _check_path(stages, nbytes)
    return env.process(_run(env, stages, nbytes, float(tail_lag), release, hops))


def _run(
    env: simpy.Environment, stages: tuple[Stage, ...], nbytes: int, tail_lag: float, release: str, record: bool
) -> Flow[TransferTiming]:
    """The timing rules of the module docstring, stage by stage, waking when the head reaches each stage.

    ``b if b > a else a`` is ``max(a, b)`` (same result, ties included) without the call: this loop runs for
    every hop of every transfer.
    """
    start = float(env.now)
    head = start
    tail = start + tail_lag if tail_lag else start
    overhead = wire = queued = 0.0
    hops: list[HopTrace] = []
    for stage in stages:
        if head != env._now:
            yield wake_at(env, head)  # reserve in the order heads arrive: that is what makes each link FIFO
        if isinstance(stage, Link):  # one branch carrying every byte: the fan-out rule below, unrolled
            served = stage.reserve(head, nbytes)
            link_overhead, link_wire = stage.overhead_ns, stage.wire_ns
            out_head = served + link_overhead + link_wire
            streamed, trailed = out_head + nbytes / stage.bandwidth_gbs, tail + link_overhead + link_wire
            out_tail = trailed if trailed > streamed else streamed
            if record:
                hops.append(_new_hop(HopTrace, (stage.name, served, out_tail, served - head)))
        else:
            out_head = out_tail = float("-inf")
            chosen: tuple[Link, float] | None = None
            for link, share in stage.branches:
                served = link.reserve(head, share)
                link_head = served + link.overhead_ns + link.wire_ns
                streamed, trailed = link_head + share / link.bandwidth_gbs, tail + link.overhead_ns + link.wire_ns
                link_tail = trailed if trailed > streamed else streamed
                if record:
                    hops.append(_new_hop(HopTrace, (link.name, served, link_tail, served - head)))
                if link_head > out_head:
                    out_head, chosen = link_head, (link, served)
                if link_tail > out_tail:
                    out_tail = link_tail
            assert chosen is not None
            link, served = chosen
            link_overhead, link_wire = link.overhead_ns, link.wire_ns
        queued += served - head
        overhead += link_overhead
        wire += link_wire
        head, tail = out_head, out_tail
    done = tail if release == "tail" else head
    if done != env._now:
        yield wake_at(env, done)
    return TransferTiming(start, tail, nbytes, overhead, wire, tail - head, queued, tuple(hops))
