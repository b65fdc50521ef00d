"""The whole system on the parallel engine: one pdes LP per SIP, one pdes link per direction of each SIP link.

Host code runs in pdes host workers bound to a SIP's LP (`Engine.spawn`): it submits requests to that SIP and
waits for them, reading sequentially while simulated time advances underneath. Under ``mpirun`` each process
builds the same model and simulates the SIPs the partition gives it; a worker exists only where its SIP lives.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np

from kernbench.engine.completion import Completion, Handle
from kernbench.engine.ipcq import deadlock_from
from kernbench.engine.messages import Request
from kernbench.engine.recorder import Recording
from kernbench.engine.sip import SipModel
from kernbench.scenario import NO_SCENARIO, Scenario
from kernbench.topology import Topology, sip_links
from kernbench.topology.sip_links import sip_grid
from pdes import LP, Model, RunResult, Simulation, SimulationDeadlock
from pdes.clock import wake_at
from pdes.workers import Worker

RUN_GC_THRESHOLD = 200_000
"""Allocations between young garbage collections while the simulation runs (Python's default: 700).

A run keeps tens of thousands of requests in flight (generators, events, ledgers), each living for many
allocations: with the default, each survives into the oldest generation and their churn triggers full
collections of the whole heap again and again — a third of the run's time on the 16-SIP all-reduce. Collecting
the young generation ~300 times less often lets most of them die young. Cyclic garbage is still collected, later:
peak memory did not change measurably. See docs/adr/0006-gc-threshold-during-runs.md.
"""


@contextmanager
def _run_gc_threshold() -> Iterator[None]:
    """`RUN_GC_THRESHOLD` for the young generation while the body runs; the previous thresholds after it."""
    before = gc.get_threshold()
    gc.set_threshold(RUN_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def lp_name(sip: int) -> str:
    return f"sip{sip}"


def _build(
    topo: Topology, sip: int, report_requests: bool, recording: Recording | None, scenario: Scenario, lp: LP
) -> SipModel:
    return SipModel(lp, topo, sip, report_requests=report_requests, recording=recording, scenario=scenario)


def _records(model: SipModel) -> dict[str, Any] | None:
    return model.recorder.export() if model.recorder is not None else None


def _report(model: SipModel) -> dict[str, Any]:
    return model.report()


class Engine:
    """Build the system of ``topo`` on pdes; ``sync``, ``partition``, ``transport``, ``ranks`` as `pdes.Simulation`.

    SIPs are dealt to ranks round-robin by default (SIP i on rank i mod K): the work of a collective or a training
    step moves across the SIP numbering in waves, and dealing spreads every region over the ranks (measured and
    projected faster than contiguous blocks at 2 to 64 ranks, docs/adr/0016-two-rank-payoff.md). ``"tiles"`` cuts
    the SIP grid into rectangles (few neighbour ranks, most links inside a rank); with one SIP per rank every
    partition is the same (docs/adr/0021).

    ``report_requests``: each SIP's report lists every host request it completed, with per-hop timings (what
    ``kernbench probe`` and tests read). Runs of thousands of SIPs turn it off: the list grows with every request
    and is gathered from every rank at the end. Off, requests keep no per-hop timings at all (`Completion.hops` is
    empty; every other figure is the same), so a request crossing SIPs carries a few numbers, not its hop list.

    ``recording``: what the SIPs record for a timeline trace and hardware statistics (`gather_records`); None
    records nothing.

    ``scenario``: a what-if scenario (`kernbench.scenario.load_scenario`, checked against ``topo``): slower SIPs,
    compute jitter, degraded and failed links. Every pdes link stays declared with its latency (the lookahead)
    whether its physical link is up or not: a failed link only carries nothing, as routes go around it.
    """

    def __init__(
        self,
        topo: Topology,
        *,
        seed: int = 0,
        sync: str = "null",
        partition: str | Mapping[str, int] | None = "round_robin",
        transport: str | None = None,
        ranks: int | None = None,
        report_requests: bool = True,
        recording: Recording | None = None,
        scenario: Scenario = NO_SCENARIO,
    ) -> None:
        self.topo = topo
        self.scenario = scenario
        model = Model(seed)
        for sip in range(topo.sip_count):
            build = partial(_build, topo, sip, report_requests, recording, scenario)
            model.add_lp(lp_name(sip), build, report=_report)
        for link in sip_links(topo.system):
            model.add_link(lp_name(link.src), lp_name(link.dst), link.latency_ns, name=link.direction)
        model.declare_grid(*sip_grid(topo.system))  # for partition="tiles": rectangles of the SIP grid
        self.sim = Simulation(model, sync=sync, partition=partition, transport=transport, ranks=ranks)
        self.progress: Callable[[dict], None] | None = None
        """The progress callback of runs that do not pass one (runs started inside host code, e.g. by spawn)."""

    @property
    def rank(self) -> int:
        return self.sim.rank

    @property
    def size(self) -> int:
        """Number of ranks (processes, or virtual ranks in one process)."""
        return self.sim.size

    def is_local(self, sip: int) -> bool:
        """Whether this process simulates SIP ``sip`` (and so may spawn host code on it)."""
        return self.sim.is_local(lp_name(self._check_sip(sip)))

    def rank_of(self, sip: int) -> int:
        """The rank that simulates SIP ``sip`` (the same answer on every rank)."""
        return self.sim.partition.owner[self.sim.model.index(lp_name(self._check_sip(sip)))]

    def sip(self, sip: int) -> SipModel:
        """The model of a local SIP (its memories, page table, links), e.g. to inspect after a run."""
        return self.sim.lp(lp_name(self._check_sip(sip))).state

    def spawn(self, sip: int, fn: Callable[..., Any], *args: Any, name: str | None = None) -> Worker:
        """Run host code ``fn(sip, *args)`` in a host worker of SIP ``sip`` (which must be local)."""
        self._check_sip(sip)
        return self.sim.spawn_worker(lp_name(sip), lambda _lp, *a: fn(sip, *a), *args, name=name)

    def submit(self, msg: Request) -> Handle:
        """From host code: start ``msg`` now on the SIP the calling worker is bound to."""
        return self.sim.current_lp().state.submit(msg)

    def wait(self, handle: Handle) -> Completion:
        """From host code: block until the request of ``handle`` completes; return its `Completion`."""
        return self.sim.wait(handle.event)

    def sleep_until(self, when: float) -> None:
        """From host code: let simulated time reach ``when`` (ns) before going on (host-side delays, staging)."""
        lp = self.sim.current_lp()
        if when < lp.now:
            raise ValueError(f"sleep_until({when}): {lp.name} is already at t={lp.now}")
        self.sim.wait(wake_at(lp.env, when))

    def now(self) -> float:
        """From host code: the simulated time (ns) of the calling worker's SIP."""
        return self.sim.current_lp().now

    def run(
        self, until: float | None = None, progress: Callable[[dict], None] | None = None, step: str = "a run"
    ) -> RunResult:
        """Run the simulation (see `pdes.Simulation.run`); ``results`` maps ``sip<n>`` to each SIP's report."""
        try:
            with _run_gc_threshold():
                return self.sim.run(until, progress or self.progress, step)
        except SimulationDeadlock as exc:
            raise deadlock_from(exc) from None

    def allreduce(self, array: np.ndarray, op: str = "sum") -> np.ndarray:
        """Collective over processes, for host code outside the simulation (a bench's reference): the sum or max
        of every process's ``array`` (`pdes.Simulation.allreduce`)."""
        return self.sim.allreduce(array, op)

    def gather_records(self) -> list[dict[str, Any]] | None:
        """Collective: what every recording SIP recorded (`SipRecorder.export`), by SIP, on rank 0 (None on the
        other MPI ranks, which write nothing)."""
        gathered = self.sim.gather(_records)
        if gathered is None:
            return None
        return [records for records in gathered.values() if records is not None]

    def settle(self, failure: BaseException | None = None) -> None:
        """Collective: the end of an SPMD script's own code on this process (see `pdes.Simulation.settle`)."""
        try:
            self.sim.settle(failure)
        except SimulationDeadlock as exc:
            raise deadlock_from(exc) from None

    def _check_sip(self, sip: int) -> int:
        if isinstance(sip, bool) or not isinstance(sip, int) or not 0 <= sip < self.topo.sip_count:
            raise ValueError(f"sip: expected 0..{self.topo.sip_count - 1}, got {sip!r}")
        return sip
