"""IPCQ: per-direction queue pairs between PEs, with ring-buffer slots, credits and backpressure.

A PE's queue for direction ``d`` (``E``, ``global_W``, ``parent``, ...) sends into the peer's receive ring: slot
``seq % n_slots`` at ``peer_rx_base``. Data and credits travel as ordinary PE DMA writes flagged ``notify``; when
such a write lands, the SIP hands its destination address to `IpcqUnit.landed`, which finds the queue *by address*
(ADR-0025 of the seeds): a write into a receive ring advances that queue's head; a write into a PE's credit inbox
carries the address of the receive ring that freed a slot, and the sender queue sending into that ring gets the
credit back. No lookup uses the sender's coordinates, so two directions pointing at the same peer (a 2-rank ring)
stay apart.

A send waits for a credit (backpressure: the peer's ring is full) and for its data to land; a receive waits for
data, hands back the slot's address, and ``release`` returns the credit to the sender's mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from kernbench.topology import PhysAddr, Topology

if TYPE_CHECKING:
    from kernbench.engine.sip import SipModel

MAILBOX_BYTES = 64
"""Size of a credit (one header-sized write; its first 8 bytes name the freed receive ring)."""
MAILBOX_AREA = 2 * MAILBOX_BYTES
"""Bytes at the top of each PE's TCM: its credit inbox, then its outbox."""
RING_AREA = 2 << 20
"""Bytes below the mailboxes kept for IPCQ receive rings in TCM (the scheduler's staging area ends below them)."""


def ring_area(topo: Topology, sip: int, cube: int, pe: int) -> PhysAddr:
    """Start of PE ``(sip, cube, pe)``'s TCM area for receive rings (inside the scheduler's reserved TCM)."""
    return PhysAddr.tcm(sip, cube, pe, topo.pe.pe_tcm.size_bytes - MAILBOX_AREA - RING_AREA)


class IpcqError(RuntimeError):
    """A queue used wrongly: not installed, installed twice, data bigger than a slot."""


@dataclass(frozen=True)
class QueueSpec:
    """One direction of one PE's install plan: where it receives, where it sends, and the peer."""

    direction: str
    peer: tuple[int, int, int]  # (sip, cube, pe)
    rx_base: PhysAddr  # this PE's receive ring for the direction
    peer_rx_base: PhysAddr  # the peer's receive ring this direction sends into
    n_slots: int
    slot_size: int


def inbox(topo: Topology, sip: int, cube: int, pe: int) -> PhysAddr:
    """Where credits for PE ``(sip, cube, pe)``'s sending queues land."""
    return PhysAddr.tcm(sip, cube, pe, topo.pe.pe_tcm.size_bytes - MAILBOX_AREA)


def outbox(topo: Topology, sip: int, cube: int, pe: int) -> PhysAddr:
    """Where PE ``(sip, cube, pe)`` composes the credits it sends."""
    return PhysAddr.tcm(sip, cube, pe, topo.pe.pe_tcm.size_bytes - MAILBOX_BYTES)


@dataclass
class Queue:
    """The live state of one queue pair end (sender side and receiver side of one direction)."""

    spec: QueueSpec
    tx_seq: int = 0
    credits: int = 0
    rx_head: int = 0
    rx_tail: int = 0
    waiters: list[simpy.Event] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"dir": self.spec.direction, "peer": list(self.spec.peer), "tx_seq": self.tx_seq,
                "credits": self.credits, "rx_head": self.rx_head, "rx_tail": self.rx_tail}


class IpcqUnit:
    """The IPCQ state of every PE of one SIP, and the address lookup for landing writes."""

    def __init__(self, model: SipModel) -> None:
        self.model = model
        self.queues: dict[tuple[int, int], dict[str, Queue]] = {}  # (cube, pe) -> direction -> queue
        self._rx: dict[tuple, list[tuple[int, int, Queue]]] = {}  # memory -> [(start, end, queue)] of its rings
        self._senders: dict[int, Queue] = {}  # encoded receive ring a queue sends into -> that queue
        self._early: list[tuple[str, Any]] = []  # writes that landed before their queue was installed here

    def install(self, cube: int, pe: int, specs: tuple[QueueSpec, ...]) -> None:
        if (cube, pe) in self.queues:
            raise IpcqError(f"sip{self.model.sip} cube {cube} pe {pe}: IPCQ is already installed")
        table: dict[str, Queue] = {}
        for spec in specs:
            queue = Queue(spec, credits=spec.n_slots)
            table[spec.direction] = queue
            self._senders[spec.peer_rx_base.encode()] = queue
            self._rx.setdefault(_memory_key(spec.rx_base), []).append(
                (spec.rx_base.offset, spec.rx_base.offset + spec.n_slots * spec.slot_size, queue))
        self.queues[(cube, pe)] = table
        early, self._early = self._early, []
        for kind, what in early:  # a peer that installed first may already have sent
            if kind == "credit":
                self._credit(what)
            else:
                self.landed(what)

    def queue(self, cube: int, pe: int, direction: str) -> Queue:
        table = self.queues.get((cube, pe))
        if table is None:
            raise IpcqError(f"sip{self.model.sip} cube {cube} pe {pe}: IPCQ is not installed (init_process_group?)")
        if direction not in table:
            raise IpcqError(f"sip{self.model.sip} cube {cube} pe {pe}: no IPCQ direction {direction!r} "
                            f"(installed: {', '.join(table) or 'none'})")
        return table[direction]

    def landed(self, dst: PhysAddr) -> None:
        """A notifying write reached ``dst``: advance the receive ring or the credits it belongs to."""
        if dst == inbox(self.model.topo, dst.sip, dst.cube, dst.pe):
            ring = int(self.model.memory(dst).read(dst.offset, 8).view("<u8")[0])  # read now: the next credit reuses it
            self._credit(ring)
            return
        for start, end, queue in self._rx.get(_memory_key(dst), ()):
            if start <= dst.offset < end:
                queue.rx_head += 1
                self._wake(queue)
                return
        self._early.append(("data", dst))  # a peer that installed first: counted when this queue is installed

    def _credit(self, ring: int) -> None:
        queue = self._senders.get(ring)
        if queue is None:
            self._early.append(("credit", ring))
            return
        queue.credits += 1
        self._wake(queue)

    def _wake(self, queue: Queue) -> None:
        waiters, queue.waiters = queue.waiters, []
        for event in waiters:
            event.succeed()

    def wait_change(self, queue: Queue) -> simpy.Event:
        """An event that fires the next time ``queue``'s head or credits move."""
        event = self.model.env.event()
        queue.waiters.append(event)
        return event

    def describe(self) -> dict[str, Any]:
        return {f"cube{c}.pe{p}": [q.describe() for q in table.values()] for (c, p), table in self.queues.items()}


def _memory_key(addr: PhysAddr) -> tuple:
    return (addr.unit, addr.cube, addr.pe)
