"""Kernels on PEs: one greenlet per PE, and the timed primitives PE programs call.

A launch's dispatch to its PEs and its completion are a request flow of the SIP (`SipModel._launch` in
`kernbench.engine.sip`, with the other request flows); every PE of the launch then runs its program here
(`run_program`).

Each PE runs its program in a greenlet driven by a SimPy process (its PE_CPU): a primitive that takes time
hands a SimPy event to the driver, which yields it and switches back with the value, so kernels read as plain
sequential Python while the LP's clock advances. A what-if scenario's slowdown and jitter (`kernbench.scenario`)
stretch the units' times: ``SipModel.speed``. Data moves when the simulated operation completes
(docs/adr/0003-kernels-and-tensors-on-the-engine.md). Primitives: ``issue`` (PE_CPU decode of one command),
``dma_all`` (PE DMA descriptors, local or to any SIP), ``compute`` (GEMM / MATH unit busy for ``overhead + flops /
throughput``), ``translate`` (MMU, per-PE TLB).

A failing program fails the launch at once with a `KernelError` naming kernel, SIP, cube and PE; host code
sees it from ``wait``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from greenlet import getcurrent, greenlet

from kernbench.components import Flow
from kernbench.engine.completion import Completion
from kernbench.engine.ipcq import IpcqError, Queue, free_in_order, inbox, outbox, trace
from kernbench.engine.messages import KernelLaunchMsg, PeDmaMsg
from kernbench.topology import PhysAddr
from pdes import memory
from pdes.clock import wake_at
from pdes.errors import message_of

if TYPE_CHECKING:
    from kernbench.engine.sip import SipModel

UNITS = ("cpu", "dma", "gemm", "math", "mmu")


class KernelError(RuntimeError):
    """A kernel raised (or misused memory) on one PE; the original exception is the ``__cause__``."""

    def __init__(self, kernel: str, sip: int, cube: int, pe: int, exc: BaseException) -> None:
        super().__init__(
            f"kernel {kernel!r} failed on sip{sip} cube {cube} pe {pe}: {type(exc).__name__}: {message_of(exc)}"
        )
        self.kernel, self.sip, self.cube, self.pe = kernel, sip, cube, pe


class PeContext:
    """What a PE program sees: its coordinates, the launch, and blocking timed primitives."""

    def __init__(self, model: SipModel, kernel: str, cube: int, pe: int, launch_pes: tuple[tuple[int, int], ...]):
        self.model = model
        self.env = model.env
        self.kernel = kernel
        self.sip, self.cube, self.pe = model.sip, cube, pe
        self.launch_pes = launch_pes
        self.busy = dict.fromkeys(UNITS, 0.0)
        self.work = {"dma_bytes": 0, "flops": 0, "commands": 0}
        self._tlb: set[int] = set()
        self._driver: Any = None
        self._unit_free = dict.fromkeys(UNITS, 0.0)
        self.end_ns = float("nan")
        self.background: list[simpy.Process] = []  # credits on their way out, which the PE's end waits for
        recorder = model.recorder
        self._flows = recorder if recorder is not None and recorder.tracing else None  # IPCQ sends and receives
        self._ops = recorder.op if recorder is not None and recorder.ops else None  # unit operations as spans

    @property
    def now(self) -> float:
        return self.env.now

    @property
    def topo(self):
        return self.model.topo

    def wait(self, event: simpy.Event) -> Any:
        """Block this PE until ``event`` is processed; return its value (raise its exception)."""
        return self._driver.switch(event)

    def spend(self, unit: str, ns: float) -> None:
        """Keep ``unit`` of this PE busy for ``ns`` from now (after what it already has queued)."""
        start = max(self.env.now, self._unit_free[unit])
        end = start + ns
        self._unit_free[unit] = end
        self.busy[unit] += ns
        if self._ops is not None and unit != "cpu":
            self._ops(self.cube, self.pe, unit, start, end)
        if end != self.env.now:
            self.wait(wake_at(self.env, end))

    def issue(self) -> None:
        """The PE_CPU decodes and issues one command (every ``tl`` call that reaches hardware)."""
        self.work["commands"] += 1
        self.spend("cpu", self.model.speed.unit_ns(self.topo.pe.pe_cpu.overhead_ns))

    def compute(self, unit: str, flops: int) -> None:
        """Run ``flops`` on the GEMM or MATH unit (after the scheduler dispatches the tile)."""
        cfg = {"gemm": self.topo.pe.pe_gemm, "math": self.topo.pe.pe_math}[unit]
        self.work["flops"] += int(flops)
        ns = self.topo.pe.scheduler.overhead_ns + cfg.overhead_ns + flops / cfg.flops_per_ns
        self.spend(unit, self.model.speed.compute_ns(self.cube, self.pe, ns))  # a what-if scenario's speed

    def dma_all(self, copies: list[tuple[PhysAddr, PhysAddr, int]]) -> list[Completion]:
        """Issue several copies at once (separate descriptors, in this order) and wait for all of them."""
        return self.wait(self.dma_start(copies))

    def dma_start(self, copies: list[tuple[PhysAddr, PhysAddr, int]]) -> simpy.Process:
        """Issue several copies at once (separate descriptors, in this order) without waiting: the flow that ends
        when all of them have."""
        return self.env.process(self._dma_flow(copies, notify=False))

    # -- IPCQ: every step is a SimPy flow, so a PE program and a background receive share one implementation --

    def ipcq_send_async(self, direction: str, src: PhysAddr, nbytes: int) -> tuple[int, simpy.Process]:
        """Send ``nbytes`` at ``src`` on queue ``direction``: wait for a credit (the peer's ring is full), claim
        the next slot, and start the DMA into it in the background. Returns the send's sequence number and the
        DMA's flow (done when the last byte has left the SIP). Sends on one queue take slots in program order."""
        queue = self.model.ipcq.queue(self.cube, self.pe, direction, "send")
        if nbytes > queue.spec.slot_size:
            raise IpcqError(f"send on {direction!r}: {nbytes} bytes do not fit a {queue.spec.slot_size}-byte slot")
        if queue.credits == 0 and not queue.spec.backpressure:
            raise IpcqError(
                f"send on {direction!r}: the peer's {queue.spec.n_slots} slots are all unread "
                "(backpressure is off, so this send would overwrite one)"
            )
        if queue.credits == 0:
            self.wait(self.env.process(self._credit_flow(queue)))
        queue.credits -= 1
        seq, dst = queue.tx_seq, queue.slot(queue.spec.tx_ring, queue.tx_seq)
        trace(self.sip, self.cube, self.pe, "send", queue, seq, dst, nbytes, self.env.now)
        if self._flows is not None:
            self._flows.send(dst.encode(), seq, self.cube, self.pe)
        queue.tx_seq += 1
        return seq, self.env.process(self._dma_flow([(src, dst, nbytes)], notify=True))

    def ipcq_take(self, direction: str) -> tuple[Queue, int]:
        """Reserve the next receive of queue ``direction``: its queue and sequence number."""
        queue = self.model.ipcq.queue(self.cube, self.pe, direction, "recv")
        queue.rx_next += 1
        return queue, queue.rx_next - 1

    def ipcq_wait(self, queue: Queue, seq: int) -> PhysAddr:
        """Wait for receive ``seq`` of ``queue`` to land; the address of its slot (release it when read)."""
        return self.wait(self.env.process(self._arrival_flow(queue, seq)))

    def ipcq_release(self, queue: Queue, seq: int) -> None:
        """Free the slot of receive ``seq``; credits go back to the sender as the oldest slots free up, as posted
        writes in the background (the PE does not wait for them to leave, as a credit may queue behind data; its
        program is done only when they have left, `background`)."""
        if len(self.background) >= 64:  # kept short: a long kernel frees thousands of slots
            self.background = [flow for flow in self.background if not flow.processed]
        self.background.append(self.env.process(self._release_flow(queue, seq)))

    def ipcq_recv_into(self, queue: Queue, seq: int, runs: list[tuple[PhysAddr, int]]) -> simpy.Process:
        """In the background: wait for receive ``seq``, DMA its slot to ``runs``, free the slot. Returns the flow."""
        return self.env.process(self._recv_into_flow(queue, seq, runs))

    def _credit_flow(self, queue: Queue) -> Flow[None]:
        """Backpressure: wait until the peer frees a slot of its ring."""
        queue.blocked_sends += 1
        while queue.credits == 0:
            yield self.model.ipcq.wait_change(queue)
        queue.blocked_sends -= 1

    def _arrival_flow(self, queue: Queue, seq: int) -> Flow[PhysAddr]:
        if queue.rx_head <= seq:
            queue.awaited.add(seq)
            while queue.rx_head <= seq:
                yield self.model.ipcq.wait_change(queue)
            queue.awaited.discard(seq)
        slot = queue.slot(queue.spec.rx_ring, seq)
        trace(self.sip, self.cube, self.pe, "recv", queue, seq, slot, None, self.env.now)
        if self._flows is not None:
            self._flows.recv(slot.encode(), seq, self.cube, self.pe)
        return slot

    def _release_flow(self, queue: Queue, seq: int) -> Flow[None]:
        before = queue.rx_tail
        queue.rx_tail = free_in_order(queue.freed, before, seq)
        for freed in range(before, queue.rx_tail):  # one credit per freed slot, composed in the outbox one at a time
            lock = self.model.ipcq.outbox_lock(self.cube, self.pe)
            with lock.request() as turn:
                yield turn
                trace(
                    self.sip,
                    self.cube,
                    self.pe,
                    "credit",
                    queue,
                    freed,
                    queue.slot(queue.spec.rx_ring, freed),
                    queue.spec.credit_bytes,
                    self.env.now,
                )
                out = outbox(self.topo, self.sip, self.cube, self.pe)
                self.model.memory(out).write(out.offset, np.array([queue.spec.rx_ring.encode()], dtype="<u8"))
                peer = inbox(self.topo, *queue.spec.sender)
                yield from self._dma_flow([(out, peer, queue.spec.credit_bytes)], notify=True)

    def _recv_into_flow(self, queue: Queue, seq: int, runs: list[tuple[PhysAddr, int]]) -> Flow[None]:
        slot = yield from self._arrival_flow(queue, seq)
        copies, pos = [], 0
        for addr, n in runs:
            copies.append((slot.offset_by(pos), addr, n))
            pos += n
        yield from self._dma_flow(copies, notify=False)
        yield from self._release_flow(queue, seq)

    def _dma_flow(self, copies: list[tuple[PhysAddr, PhysAddr, int]], *, notify: bool) -> Flow[list[Completion]]:
        start = self.env.now
        handles = [
            self.model.submit(PeDmaMsg(self.sip, self.cube, self.pe, src, dst, n, notify), record=False)
            for src, dst, n in copies
        ]
        done = []
        for handle in handles:
            done.append((yield handle.event))
        self.busy["dma"] += self.env.now - start
        nbytes = sum(n for _, _, n in copies)
        self.work["dma_bytes"] += nbytes
        if self._ops is not None:
            self._ops(self.cube, self.pe, "dma", start, self.env.now, nbytes)
        return done

    def translate(self, va: int, nbytes: int) -> list[tuple[PhysAddr, int]]:
        """Physical runs ``(addr, bytes)`` behind virtual ``[va, va + nbytes)``.

        Costs a TLB hit per page, plus one page walk if any page misses the PE's TLB: the MMU walks the misses of
        one request in parallel (the TLB has no capacity limit here).
        """
        table, mmu = self.model.page_tables[self.cube], self.topo.pe.pe_mmu
        runs: list[tuple[PhysAddr, int]] = []
        first, end_page = va // table.page, (va + nbytes - 1) // table.page + 1
        pages = range(first, end_page)
        missed = any(page not in self._tlb for page in pages)
        self._tlb.update(pages)
        pos, end = va, va + nbytes
        while pos < end:
            pa, stop = table.lookup(pos)
            take = min(end, stop) - pos
            last = runs[-1] if runs else None
            if (
                last
                and (last[0].unit, last[0].cube, last[0].pe) == (pa.unit, pa.cube, pa.pe)
                and (last[0].offset + last[1] == pa.offset)
            ):
                runs[-1] = (last[0], last[1] + take)
            else:
                runs.append((pa, take))
            pos += take
        self.spend("mmu", self.model.speed.unit_ns(len(pages) * mmu.tlb_hit_ns + (mmu.walk_ns if missed else 0.0)))
        return runs


def run_program(ctx: PeContext, program: Callable[[PeContext], Any], failed: simpy.Event) -> Flow[Any]:
    """Drive ``program(ctx)`` in a greenlet: every event it waits on is yielded here.

    An exception in the program triggers ``failed`` with a `KernelError` (the first one wins) and ends this PE.
    """
    glet = greenlet(lambda *_: _kernel_code(ctx, program))
    value: Any = None
    ok = True
    while True:
        ctx._driver = glet.parent = getcurrent()
        try:
            request = glet.switch(value) if ok else glet.throw(value)
        except BaseException as exc:
            memory.check(exc)
            error = KernelError(ctx.kernel, ctx.sip, ctx.cube, ctx.pe, exc)
            error.__cause__ = exc
            if not failed.triggered:
                failed.succeed(error)
            return None
        if glet.dead:
            pending = [flow for flow in ctx.background if not flow.processed]
            if pending:  # a PE is done when its last credit has left, not before
                yield simpy.AllOf(ctx.env, pending)
            ctx.end_ns = ctx.env.now
            return request
        try:
            value, ok = (yield request), True
        except BaseException as exc:
            value, ok = exc, False


def _kernel_code(ctx: PeContext, program: Callable[[PeContext], Any]) -> Any:
    """The bottom of every PE's greenlet: what `pdes.memory` names when a kernel runs out of memory."""
    return program(ctx)


def _kernel_doing(local: dict[str, Any]) -> str:
    ctx = local["ctx"]
    return f"running kernel {ctx.kernel!r} on sip{ctx.sip} cube {ctx.cube} pe {ctx.pe} at t={ctx.now:g} ns"


memory.label(_kernel_code, _kernel_doing)


def launch_detail(msg: KernelLaunchMsg, contexts: list[PeContext], start: float, end: float) -> dict[str, Any]:
    """Per-unit busy time summed over the launch's PEs, the work done, and the execution span."""
    busy = {unit: sum(ctx.busy[unit] for ctx in contexts) for unit in UNITS}
    work = {key: sum(ctx.work[key] for ctx in contexts) for key in ("dma_bytes", "flops", "commands")}
    return {
        "kernel": msg.name,
        "pes": len(contexts),
        "start_ns": start,
        "exec_ns": end - start,
        "busy_ns": busy,
        **work,
    }
