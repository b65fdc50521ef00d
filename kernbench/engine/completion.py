"""How a request went: the `Completion` host code gets back, and the `Ledger` that builds it on the way.

A request passes phases one after the other — fixed command costs (IO_CPU, DMA descriptor setup, M_CPU),
transfers over links, hops over inter-SIP links — and its latency splits exactly into::

    latency = command + overhead + wire + queueing + serialization

``overhead``, ``wire`` and ``queueing`` sum those of every transfer (`TransferTiming`); an inter-SIP hop adds its
latency to ``wire``; ``serialization`` (the drain) is what is left: the time bytes take to stream out at the
bottleneck rate, summed over the phases. The ledger travels with a request from SIP to SIP as a plain list so it
crosses MPI ranks unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from kernbench.components import HopTrace, TransferTiming


@dataclass
class Ledger:
    """The running breakdown of one request (start time and sums), plus its per-hop trace.

    ``hops`` None keeps no trace (runs that report no per-hop timings): the sums are the same, and the ledger
    that travels from SIP to SIP stays a few numbers instead of growing with every link the request crosses.
    """

    start: float
    command_ns: float = 0.0
    overhead_ns: float = 0.0
    wire_ns: float = 0.0
    queueing_ns: float = 0.0
    hops: list[HopTrace] | None = field(default_factory=list)

    def command(self, name: str, start: float, ns: float) -> float:
        """Charge a fixed cost of ``ns`` paid by unit ``name`` from ``start``; returns when it is paid."""
        self.command_ns += ns
        end = start + ns
        if self.hops is not None:
            self.hops.append(HopTrace(name, start, end, 0.0))
        return end

    def transfer(self, timing: TransferTiming) -> None:
        self.overhead_ns += timing.overhead_ns
        self.wire_ns += timing.wire_ns
        self.queueing_ns += timing.queueing_ns
        if self.hops is not None:
            self.hops.extend(timing.hops)

    def link(self, name: str, head_in: float, latency_ns: float, tail_lag: float) -> None:
        """An inter-SIP hop: the head enters at ``head_in`` and arrives ``latency_ns`` later, the tail after it."""
        self.wire_ns += latency_ns
        if self.hops is not None:
            self.hops.append(HopTrace(name, head_in, head_in + latency_ns + tail_lag, 0.0))

    def to_wire(self) -> list:
        return [
            self.start,
            self.command_ns,
            self.overhead_ns,
            self.wire_ns,
            self.queueing_ns,
            None if self.hops is None else [list(hop) for hop in self.hops],
        ]

    @classmethod
    def from_wire(cls, wire: list) -> Ledger:
        start, command, overhead, wire_ns, queueing, hops = wire
        return cls(
            start, command, overhead, wire_ns, queueing, None if hops is None else [HopTrace(*hop) for hop in hops]
        )


@dataclass(frozen=True)
class Completion:
    """The outcome of one request: when it ended, where the time went, the hops it took and any data read."""

    request: str
    sip: int
    tag: int
    start_ns: float
    end_ns: float
    nbytes: int
    command_ns: float
    overhead_ns: float
    wire_ns: float
    queueing_ns: float
    hops: tuple[HopTrace, ...]
    data: np.ndarray | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    """Request-specific figures (a kernel launch: per-unit busy time and work of its PEs)."""

    @classmethod
    def of(
        cls,
        request: str,
        sip: int,
        tag: int,
        ledger: Ledger,
        end: float,
        nbytes: int,
        data: np.ndarray | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Completion:
        # Every request ends here: fill the frozen instance directly, as the generated __init__ would with one
        # object.__setattr__ per field (three times slower).
        done = object.__new__(cls)
        done.__dict__.update(
            request=request,
            sip=sip,
            tag=tag,
            start_ns=ledger.start,
            end_ns=end,
            nbytes=nbytes,
            command_ns=ledger.command_ns,
            overhead_ns=ledger.overhead_ns,
            wire_ns=ledger.wire_ns,
            queueing_ns=ledger.queueing_ns,
            hops=() if ledger.hops is None else tuple(ledger.hops),
            data=data,
            detail=detail or {},
        )
        return done

    @property
    def read_data(self) -> np.ndarray:
        """The bytes a read request brought back; an error for a request that reads nothing."""
        if self.data is None:
            raise ValueError(f"{self.request} on sip{self.sip} (tag {self.tag}) read no data")
        return self.data

    @property
    def latency_ns(self) -> float:
        return self.end_ns - self.start_ns

    @property
    def serialization_ns(self) -> float:
        """The drain: latency not spent in command costs, per-hop overheads, wires or queues."""
        return self.latency_ns - self.command_ns - self.overhead_ns - self.wire_ns - self.queueing_ns

    @property
    def bandwidth_gbs(self) -> float:
        """Effective bandwidth (GB/s = bytes per ns) over the whole latency."""
        return self.nbytes / self.latency_ns if self.latency_ns > 0 else float("inf")

    def summary(self) -> dict[str, Any]:
        """Everything but the data, as plain values (JSON- and msgpack-ready)."""
        return {
            "request": self.request,
            "sip": self.sip,
            "tag": self.tag,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "latency_ns": self.latency_ns,
            "nbytes": self.nbytes,
            "command_ns": self.command_ns,
            "overhead_ns": self.overhead_ns,
            "wire_ns": self.wire_ns,
            "queueing_ns": self.queueing_ns,
            "serialization_ns": self.serialization_ns,
            "bandwidth_gbs": self.bandwidth_gbs,
            "hops": [
                {"link": link, "head_in": head_in, "tail_out": tail_out, "queued_ns": queued_ns}
                for link, head_in, tail_out, queued_ns in self.hops
            ],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Handle:
    """What `Engine.submit` returns: pass it to `Engine.wait`."""

    sip: int
    tag: int
    request: str
    event: simpy.Event = field(repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.event.processed
