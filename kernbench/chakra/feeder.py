"""Run one rank's trace on its SIP, as ASTRA-sim's feeder does: a node is issued once all its parents are done.

The rank's host worker joins the process groups, allocates every buffer, and leaves a barrier with every other
rank (the common start, as ``kernbench ccl-perf`` times from); then it issues what is ready, waits until something
in flight completes, and issues again. Streams as on the hardware and in ASTRA-sim's ``HardwareResource``: one
device compute node at a time (``compute``), one host node (``host``: CPU ops and PyTorch's ``c10d::`` nodes), one
memory node; a process group's collectives one at a time in node id order (NCCL's stream); point-to-point nodes as
soon as they are ready, those that become ready together in one ``batch_isend_irecv``, each pair's in node id order.
Among ready nodes of one stream the lowest id goes first (ASTRA-sim's order). So compute and communication overlap
exactly as far as the dependencies allow.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from kernbench.chakra.breakdown import rank_breakdown
from kernbench.chakra.nodes import TraceNode
from kernbench.chakra.ops import Buffers, Scratch, compute_ns, start_collective, start_messages
from kernbench.chakra.workload import Workload
from pdes.clock import wake_at

if TYPE_CHECKING:
    from kernbench.runtime.context import RuntimeContext
    from kernbench.runtime.distributed import Work
    from kernbench.runtime.groups import ProcessGroup

TIMED = ("compute", "host", "memory")
"""Streams that run one node at a time, the lowest ready id first."""
Span = tuple[str, str, int, str, float, float]
"""A finished node: (kind, op, size, group, start ns, end ns)."""


@dataclass
class Flight:
    """Something in flight: the nodes it completes, the stream it holds (None: none), its event, when it started,
    and the `Work` whose phase the runtime trace records."""

    ids: list[int]
    stream: Any
    event: simpy.Event
    start: float
    work: Work | None = None


class Feeder:
    """Rank ``rank`` of ``workload`` on its SIP; `run` it in the SIP's host worker. ``scale``: ``--compute-scale``."""

    def __init__(self, torch: RuntimeContext, workload: Workload, rank: int, scale: float = 1.0) -> None:
        self.torch = torch
        self.engine = torch.engine
        self.workload = workload
        self.rank = rank
        self.scale = scale
        self.trace = workload.trace(rank)
        self.nodes = {n.id: n for n in self.trace.nodes}
        self.buffers = Buffers(torch)
        self.scratch: Scratch | None = None
        self.groups: dict[str, ProcessGroup] = {}
        self.waiting = {i: len(n.deps) for i, n in self.nodes.items()}
        self.children: dict[int, list[int]] = {i: [] for i in self.nodes}
        for i, n in self.nodes.items():
            for dep in n.deps:
                self.children[dep].append(i)
        self.heaps: dict[str, list[int]] = {s: [] for s in TIMED}
        self.ordered: dict[tuple, deque[int]] = {}  # ("collective", group) or (kind, peer): ids in id order
        for n in self.trace.nodes:
            if n.kind == "collective":
                self.ordered.setdefault(("collective", workload.group(n)), deque()).append(n.id)
            elif n.kind in ("send", "recv"):
                self.ordered.setdefault((n.kind, n.peer), deque()).append(n.id)
        self.free: set[int] = set()  # ready collectives and messages, each issued when first in its order
        self.instant: list[int] = []  # ready nodes that take no time
        self.busy: set[Any] = set()
        self.flights: list[Flight] = []
        self.spans: list[Span] = []

    # -- before the start ----------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Join the world and every group (each rank creates every group, in the workload's order), make every
        buffer the trace will use, and wait at a barrier with every rank."""
        dist = self.torch.distributed
        dist.init_process_group("ahbm")
        self.groups = {"": dist.group.WORLD}
        for name, members in self.workload.groups:
            self.groups[name] = dist.new_group(members)
        for node in self.trace.nodes:
            if node.kind == "collective" and node.op != "barrier":
                self.buffers.collective(node.op, node.size, self._group(node))
            elif node.kind in ("send", "recv"):
                self.buffers.message(node)
            elif node.kind == "memory" and self.scratch is None:
                self.scratch = Scratch.of(self.torch)
        dist.barrier()

    def _group(self, node: TraceNode) -> ProcessGroup:
        return self.groups[self.workload.group(node)]

    # -- the run -------------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Prepare, then issue every node as its parents finish; this rank's breakdown (`rank_breakdown`)."""
        self.prepare()
        lp = self.engine.sim.current_lp()
        recorder = lp.state.recorder
        self.recorder = recorder if recorder is not None and recorder.tracing else None
        start = end = self.engine.now()
        for i, n in self.nodes.items():
            if not n.deps:
                self._ready(i)
        while True:
            self._issue(lp.env)
            if not self.flights:
                break
            self.engine.sim.wait(simpy.AnyOf(lp.env, [f.event for f in self.flights]))
            end = self.engine.now()
            for f in [f for f in self.flights if f.event.processed]:
                self.flights.remove(f)
                if f.work is not None:
                    f.work.wait()  # done already: records its phase in the runtime trace
                self.busy.discard(f.stream)
                for i in f.ids:
                    self._finish(i, f.start, end)
        left = sorted(i for i, w in self.waiting.items() if w) + sorted(self.free)
        if left:  # the checks before the run make this impossible
            raise RuntimeError(f"{self.trace.path}: nodes {left[:8]} were never issued")
        return rank_breakdown(self.rank, start, end, self.spans)

    def _ready(self, i: int) -> None:
        kind = self.nodes[i].kind
        if kind in TIMED:
            heapq.heappush(self.heaps[kind], i)
        elif kind == "none":
            self.instant.append(i)
        else:
            self.free.add(i)

    def _finish(self, i: int, start: float, end: float) -> None:
        n = self.nodes[i]
        group = self.workload.group(n) if n.kind == "collective" else ""
        self.spans.append((n.kind, n.op, n.size, group, start, end))
        if self.recorder is not None:  # --trace: the node as a span named after it
            args = {
                "node": i,
                "kind": n.kind,
                **({"op": n.op} if n.op else {}),
                **({"bytes": n.size} if n.size else {}),
            }
            self.recorder.spans.append((("host", "phases"), n.name or n.label, start, end, args))
        for child in self.children[i]:
            self.waiting[child] -= 1
            if self.waiting[child] == 0:
                self._ready(child)

    def _issue(self, env: simpy.Environment) -> None:
        """Start everything that may start now, until nothing more can (nodes that take no time finish at once
        and may free others)."""
        now = self.engine.now()
        while True:
            if self.instant:
                self._finish(self.instant.pop(), now, now)
                continue
            started = False
            for stream in TIMED:
                if stream not in self.busy and self.heaps[stream]:
                    i = heapq.heappop(self.heaps[stream])
                    self._fly([i], stream, self._start_timed(self.nodes[i], env, now), now)
                    started = True
            batch: list[tuple[TraceNode, int]] = []
            for key, queue in self.ordered.items():
                if key[0] == "collective":
                    if queue and queue[0] in self.free and key not in self.busy:
                        node = self.nodes[self._take(queue)]
                        group = self._group(node)
                        work = start_collective(self.torch, node.op, group, self._buffers(node, group))
                        self._fly([node.id], key, _event(work), now, work)
                        started = True
                else:
                    while queue and queue[0] in self.free:
                        node = self.nodes[self._take(queue)]
                        batch.append((node, self.workload.peer(self.rank, node)))
            if batch:
                work = start_messages(self.torch, batch, self.buffers)
                self._fly([n.id for n, _ in batch], None, _event(work), now, work)
                started = True
            if not started:
                return

    def _take(self, queue: deque[int]) -> int:
        i = queue.popleft()
        self.free.discard(i)
        return i

    def _fly(self, ids: list[int], stream: Any, event: simpy.Event, now: float, work: Work | None = None) -> None:
        if stream is not None:
            self.busy.add(stream)
        self.flights.append(Flight(ids, stream, event, now, work))

    def _buffers(self, node: TraceNode, group: ProcessGroup) -> tuple[Any, Any]:
        if node.op == "barrier":
            return None, None
        return self.buffers.collective(node.op, node.size, group)

    def _start_timed(self, node: TraceNode, env: simpy.Environment, now: float) -> simpy.Event:
        if node.kind == "memory":
            assert self.scratch is not None
            return self.scratch.start(self.torch, node)
        return wake_at(env, now + compute_ns(node, self.torch.topo, self.scale))


def _event(work: Work) -> simpy.Event:
    """The event a `Work` completes with: the feeder waits on several at once."""
    return work._handle.event
