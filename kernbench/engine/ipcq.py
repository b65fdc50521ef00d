"""IPCQ: per-direction queue pairs between PEs, with ring-buffer slots, credits and backpressure.

A PE's direction ``d`` (``E``, ``global_W``, ``parent``, ...) may send (to ``send_to``, into the peer's receive
ring at ``peer_rx_base``) and may receive (from ``recv_from``, into its own ring at ``rx_base``); a bidirectional
link has both, a one-way ring only one. Sends go to slot ``seq % n_slots``. Data and credits travel as ordinary PE
DMA writes flagged ``notify``; when such a write lands, the SIP hands its destination address to
`IpcqUnit.landed`, which finds the queue *by address* (ADR-0025 of the seeds): a write into a receive ring
advances that ring's head; a write into a PE's credit inbox carries the address of the receive ring that freed a
slot, and the queue sending into that ring gets the credit back. No lookup uses the sender's coordinates, so two
directions pointing at the same peer (a 2-rank ring) stay apart.

A send waits for a credit (backpressure: the peer's ring is full), takes the next slot, and its DMA carries the
data in the background (``tl.send_async``; ``tl.send`` also waits until the last byte has left); with
``backpressure=False`` a send that would overwrite an unread slot is an error instead. A receive takes the next
sequence number of its direction, waits for that slot to land, and its release returns the credit; releases
free slots in order even when asynchronous receives finish out of order.

Receive rings live in a fixed region per PE and memory kind (`ring_region`): TCM (below the mailboxes), the top
of the PE's HBM share, or the PE's part of the top of its cube's SRAM; the allocators never hand those out.

Diagnostics (ADR-0025 D5 of the seeds; docs/adr/0013): ``KERNBENCH_CCL_TRACE`` logs one `trace_line` per IPCQ
``send`` (the sender issues the data write into the peer's slot), ``recv`` (a receive's data is there for the
kernel) and ``credit`` (the receiver frees a slot and returns it), each with the simulated time, the rank (= SIP),
cube, PE, direction, sequence number, slot address and bytes. Each process logs the SIPs it simulates, in its own
event order; `trace_sort_key` orders lines by (time, rank, cube, pe, direction, event, seq), and in that order the
lines of a one-process run and of an ``mpirun`` job are identical. `Queue.pointers` gives one queue's pointers
(the deadlock dump and ``kernbench.ccl.pointer_dump``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import simpy

from kernbench.topology import PhysAddr, Topology, UnitKind
from kernbench.topology.reserved import MAILBOX_AREA, MAILBOX_BYTES, RING_AREA, SRAM_RING_AREA, SYNC_AREA
from pdes import SimulationDeadlock
from pdes.transport import launched_by_mpi, launcher_rank

if TYPE_CHECKING:
    from kernbench.engine.sip import SipModel

BUFFER_KINDS = ("tcm", "hbm", "sram")
"""Where a ccl.yaml algorithm's receive rings may live."""
SYNC_BUFFER = "sync"
"""The TCM region of the process group's barrier rings (`SYNC_AREA`): not a ccl.yaml choice."""
CREDIT_MIN_BYTES = 8


def ring_region(topo: Topology, kind: str, sip: int, cube: int, pe: int) -> tuple[PhysAddr, int]:
    """Start and size of PE ``(sip, cube, pe)``'s region for receive rings in memory ``kind`` (or `SYNC_BUFFER`)."""
    size = ring_region_bytes(kind)
    if kind == SYNC_BUFFER:
        return PhysAddr.tcm(sip, cube, pe, topo.pe.pe_tcm.size_bytes - MAILBOX_AREA - SYNC_AREA), size
    if kind == "tcm":
        return PhysAddr.tcm(sip, cube, pe, topo.pe.pe_tcm.size_bytes - MAILBOX_AREA - SYNC_AREA - RING_AREA), size
    if kind == "hbm":
        share = hbm_share_bytes(topo)
        return PhysAddr.hbm(sip, cube, pe * share + share - RING_AREA), size
    top = topo.cube.sram.size_bytes - sram_ring_bytes(topo)
    return PhysAddr.sram(sip, cube, top + pe * SRAM_RING_AREA), size


def ring_region_bytes(kind: str) -> int:
    """Size of every PE's region for receive rings in memory ``kind`` (or `SYNC_BUFFER`)."""
    if kind == SYNC_BUFFER:
        return SYNC_AREA
    if kind not in BUFFER_KINDS:
        raise ValueError(f"IPCQ buffer kind must be one of {', '.join(BUFFER_KINDS)}, got {kind!r}")
    return SRAM_RING_AREA if kind == "sram" else RING_AREA


def hbm_share_bytes(topo: Topology, alignment: int = 4096) -> int:
    """Bytes of a cube's HBM that belong to each of its PEs (the last `RING_AREA` of them hold IPCQ rings)."""
    return topo.cube.hbm_ctrl.capacity_bytes // topo.pes_per_cube // alignment * alignment


def sram_ring_bytes(topo: Topology) -> int:
    """Bytes at the top of each cube's SRAM kept for its PEs' IPCQ rings."""
    return topo.pes_per_cube * SRAM_RING_AREA


def free_in_order(freed: set[int], tail: int, seq: int) -> int:
    """Mark receive ``seq`` done and return the new tail: slots free only in order, so a receive finishing early
    never lets the sender reuse an older slot that is still unread (``freed`` keeps the early ones)."""
    freed.add(seq)
    while tail in freed:
        freed.remove(tail)
        tail += 1
    return tail


def inbox(topo: Topology, sip: int, cube: int, pe: int) -> PhysAddr:
    """Where credits for PE ``(sip, cube, pe)``'s sending queues land."""
    return PhysAddr.tcm(sip, cube, pe, _inbox_offset(topo))


def is_inbox(topo: Topology, addr: PhysAddr) -> bool:
    """Whether ``addr`` is the `inbox` of its PE (checked on every landing write, without building the inbox)."""
    return addr.unit is UnitKind.PE_TCM and addr.offset == _inbox_offset(topo)


def _inbox_offset(topo: Topology) -> int:
    return topo.pe.pe_tcm.size_bytes - MAILBOX_AREA


def outbox(topo: Topology, sip: int, cube: int, pe: int) -> PhysAddr:
    """Where PE ``(sip, cube, pe)`` composes the credits it sends."""
    return PhysAddr.tcm(sip, cube, pe, topo.pe.pe_tcm.size_bytes - MAILBOX_BYTES)


class IpcqError(RuntimeError):
    """A queue used wrongly: not installed, installed twice, data bigger than a slot, an overrun."""


class IpcqDeadlock(SimulationDeadlock):
    """Receives or sends that can never complete; the message dumps every queue pair (``queues``: per SIP)."""

    def __init__(
        self,
        message: str,
        blocked: list[dict],
        lps: list[dict],
        queues: dict[str, Any],
        finished: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, blocked, lps, finished)
        self.queues = queues


@dataclass(frozen=True)
class QueueSpec:
    """One direction of one PE's install plan: whom it sends to and where, whom it receives from and where."""

    direction: str
    n_slots: int
    slot_size: int
    send_to: tuple[int, int, int] | None = None  # (sip, cube, pe) of the peer this direction sends to
    peer_rx_base: PhysAddr | None = None  # the peer's receive ring it sends into
    recv_from: tuple[int, int, int] | None = None  # the PE whose sends land in rx_base
    rx_base: PhysAddr | None = None  # this PE's receive ring for the direction
    credit_bytes: int = 16
    backpressure: bool = True

    def __post_init__(self) -> None:
        where = f"QueueSpec {self.direction!r}"
        if (self.send_to is None) != (self.peer_rx_base is None) or (self.recv_from is None) != (self.rx_base is None):
            raise ValueError(f"{where}: send_to goes with peer_rx_base, recv_from with rx_base")
        if self.send_to is None and self.recv_from is None:
            raise ValueError(f"{where}: neither sends nor receives")
        if self.n_slots < 1 or self.slot_size < 1:
            raise ValueError(f"{where}: n_slots and slot_size must be >= 1, got {self.n_slots}, {self.slot_size}")
        if not CREDIT_MIN_BYTES <= self.credit_bytes <= MAILBOX_BYTES:
            raise ValueError(
                f"{where}: credit_bytes must be {CREDIT_MIN_BYTES}..{MAILBOX_BYTES}, got {self.credit_bytes}"
            )

    @property
    def ring_bytes(self) -> int:
        return self.n_slots * self.slot_size

    @property
    def tx_ring(self) -> PhysAddr:
        """The peer's receive ring this direction sends into (``peer_rx_base``)."""
        if self.peer_rx_base is None:
            raise IpcqError(f"IPCQ direction {self.direction!r} cannot send (it only receives)")
        return self.peer_rx_base

    @property
    def rx_ring(self) -> PhysAddr:
        """This PE's receive ring for the direction (``rx_base``)."""
        if self.rx_base is None:
            raise IpcqError(f"IPCQ direction {self.direction!r} cannot recv (it only sends)")
        return self.rx_base

    @property
    def sender(self) -> tuple[int, int, int]:
        """The (sip, cube, pe) whose sends land in this direction's receive ring (``recv_from``)."""
        if self.recv_from is None:
            raise IpcqError(f"IPCQ direction {self.direction!r} cannot recv (it only sends)")
        return self.recv_from


@dataclass
class Queue:
    """The live state of one direction of one PE: its sending side and its receiving side."""

    spec: QueueSpec
    tx_seq: int = 0  # sends started
    credits: int = 0  # free slots in the peer's ring, as this PE knows it
    rx_head: int = 0  # writes landed in this PE's ring
    rx_next: int = 0  # sequence number the next receive takes
    rx_tail: int = 0  # slots freed, in order
    freed: set[int] = field(default_factory=set)  # slots freed out of order, waiting for the ones before them
    waiters: list[simpy.Event] = field(default_factory=list)
    blocked_sends: int = 0  # sends waiting for a credit now
    awaited: set[int] = field(default_factory=set)  # receive sequence numbers whose data is waited for now

    def slot(self, base: PhysAddr, seq: int) -> PhysAddr:
        return base.offset_by(seq % self.spec.n_slots * self.spec.slot_size)

    def describe(self) -> dict[str, Any]:
        return {
            "dir": self.spec.direction,
            "send_to": _node(self.spec.send_to),
            "recv_from": _node(self.spec.recv_from),
            "tx_seq": self.tx_seq,
            "credits": self.credits,
            "rx_head": self.rx_head,
            "rx_next": self.rx_next,
            "rx_tail": self.rx_tail,
            "waiting": self.waiting(),
        }

    def pointers(self) -> dict[str, Any]:
        """Every pointer of the queue, under this project's names and the seeds' (``my_head``: sends started,
        ``peer_tail_cache``: slots of the peer's ring this PE knows are free again, ``peer_head_cache``: the peer's
        writes landed in this PE's ring, ``my_tail``: slots of this PE's ring freed), with both rings' addresses
        (the direction <-> ring mapping that address-based matching uses)."""
        spec = self.spec
        returned = self.tx_seq + self.credits - spec.n_slots if spec.send_to is not None else 0
        return {
            "dir": spec.direction,
            "tx_seq": self.tx_seq,
            "credits": self.credits,
            "rx_head": self.rx_head,
            "rx_next": self.rx_next,
            "rx_tail": self.rx_tail,
            "my_head": self.tx_seq,
            "my_tail": self.rx_tail,
            "peer_head_cache": self.rx_head,
            "peer_tail_cache": returned,
            "n_slots": spec.n_slots,
            "slot_size": spec.slot_size,
            "send_to": _node(spec.send_to),
            "peer_rx_base": _addr(spec.peer_rx_base),
            "recv_from": _node(spec.recv_from),
            "rx_base": _addr(spec.rx_base),
            "waiting": self.waiting(),
        }

    def waiting(self) -> str:
        """What PEs wait for on this queue right now (empty when nothing): for deadlock dumps."""
        parts = []
        if self.blocked_sends:
            parts.append(f"a credit from {_node(self.spec.send_to)} (send #{self.tx_seq})")
        if self.awaited:
            seqs = ", #".join(str(seq) for seq in sorted(self.awaited))
            parts.append(f"data #{seqs} from {_node(self.spec.recv_from)}")
        return "; ".join(parts)


def _node(node: tuple[int, int, int] | None) -> str:
    return "-" if node is None else "sip{}.cube{}.pe{}".format(*node)


def _addr(addr: PhysAddr | None) -> str:
    return "-" if addr is None else str(addr)


# -- trace (KERNBENCH_CCL_TRACE) ----------------------------------------------------------------------------------

TRACE_ENV = "KERNBENCH_CCL_TRACE"
"""Off when unset, empty or ``0``; ``1``: lines to stderr; anything else: a file path (``PATH.rank<k>`` for rank k
of an MPI job)."""
TRACE_EVENTS = ("send", "recv", "credit")


class _Trace:
    """Where this process's trace lines go (opened on the first line)."""

    def __init__(self, setting: str) -> None:
        self.setting = setting
        self.out: IO[str] | None = None

    @property
    def path(self) -> str | None:
        if self.setting == "1":
            return None
        return f"{self.setting}.rank{launcher_rank()}" if launched_by_mpi() else self.setting

    def write(self, line: str) -> None:
        if self.out is None:
            path = self.path
            self.out = sys.stderr if path is None else open(path, "w", buffering=1)  # noqa: SIM115 (kept open)
        self.out.write(line + "\n")
        if self.out is sys.stderr:
            self.out.flush()


_trace: _Trace | None = None


def reload_trace_setting() -> None:
    """Read ``KERNBENCH_CCL_TRACE`` again (it is read at import; tests and tools that change it call this)."""
    global _trace
    if _trace is not None and _trace.out is not None and _trace.out is not sys.stderr:
        _trace.out.close()
    setting = os.environ.get(TRACE_ENV, "").strip()
    _trace = None if setting in ("", "0") else _Trace(setting)


def trace_enabled() -> bool:
    return _trace is not None


def trace_line(
    t_ns: float, sip: int, cube: int, pe: int, event: str, queue: Queue, seq: int, slot: PhysAddr, nbytes: int | None
) -> str:
    """One trace line: ``ccl-trace t=... rank=... cube=... pe=... EVENT dir=... seq=... slot=... [bytes=...]
    peer=...`` (``bytes``: of the data a send writes, of the credit a credit writes; ``peer``: whom a send goes to,
    or the sender whose slot a receive reads or a credit frees)."""
    peer = queue.spec.send_to if event == "send" else queue.spec.recv_from
    size = "" if nbytes is None else f" bytes={nbytes}"
    return (
        f"ccl-trace t={t_ns:.6f} rank={sip} cube={cube} pe={pe} {event} dir={queue.spec.direction} seq={seq} "
        f"slot={slot}{size} peer={_node(peer)}"
    )


def trace_sort_key(line: str) -> tuple:
    """The canonical order of trace lines: (time, rank, cube, pe, direction, event, seq)."""
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    event = next(e for e in TRACE_EVENTS if f" {e} " in line)
    return (
        float(fields["t"]),
        int(fields["rank"]),
        int(fields["cube"]),
        int(fields["pe"]),
        fields["dir"],
        TRACE_EVENTS.index(event),
        int(fields["seq"]),
    )


def trace(
    sip: int, cube: int, pe: int, event: str, queue: Queue, seq: int, slot: PhysAddr, nbytes: int | None, now: float
) -> None:
    """Log one IPCQ event when ``KERNBENCH_CCL_TRACE`` is on (a no-op otherwise)."""
    if _trace is not None:
        _trace.write(trace_line(now, sip, cube, pe, event, queue, seq, slot, nbytes))


reload_trace_setting()


class IpcqUnit:
    """The IPCQ state of every PE of one SIP, and the address lookup for landing writes."""

    def __init__(self, model: SipModel) -> None:
        self.model = model
        self.queues: dict[tuple[int, int], dict[str, Queue]] = {}  # (cube, pe) -> direction -> queue
        self._rx: dict[tuple, list[tuple[int, int, Queue]]] = {}  # memory -> [(start, end, queue)] of its rings
        self._senders: dict[int, Queue] = {}  # encoded receive ring a queue sends into -> that queue
        self._early: list[tuple[str, Any]] = []  # writes that landed before their queue was installed here
        self._outbox_locks: dict[tuple[int, int], simpy.Resource] = {}

    def install(self, cube: int, pe: int, specs: tuple[QueueSpec, ...]) -> None:
        """Add queues to PE ``(cube, pe)`` (a PE takes more as process groups come; a direction only once)."""
        table = self.queues.setdefault((cube, pe), {})
        again = [spec.direction for spec in specs if spec.direction in table]
        if again:
            raise IpcqError(
                f"sip{self.model.sip} cube {cube} pe {pe}: IPCQ direction {again[0]!r} is already installed"
            )
        for spec in specs:
            queue = Queue(spec, credits=spec.n_slots)
            table[spec.direction] = queue
            if spec.peer_rx_base is not None:
                self._senders[spec.peer_rx_base.encode()] = queue
            if spec.rx_base is not None:
                self._rx.setdefault(_memory_key(spec.rx_base), []).append(
                    (spec.rx_base.offset, spec.rx_base.offset + spec.ring_bytes, queue)
                )
        early, self._early = self._early, []
        for kind, what in early:  # a peer that installed first may already have sent
            if kind == "credit":
                self._credit(what)
            else:
                self.landed(what)

    def queue(self, cube: int, pe: int, direction: str, side: str) -> Queue:
        """PE ``(cube, pe)``'s queue ``direction``, which must be able to ``side`` ("send" / "recv")."""
        where = f"sip{self.model.sip} cube {cube} pe {pe}"
        table = self.queues.get((cube, pe))
        if table is None:
            raise IpcqError(f"{where}: IPCQ is not installed (init_process_group?)")
        queue = table.get(direction)
        if queue is None:
            raise IpcqError(f"{where}: no IPCQ direction {direction!r} (installed: {', '.join(table) or 'none'})")
        if (queue.spec.send_to if side == "send" else queue.spec.recv_from) is None:
            raise IpcqError(
                f"{where}: IPCQ direction {direction!r} cannot {side} (it only "
                f"{'receives' if side == 'send' else 'sends'})"
            )
        return queue

    def landed(self, dst: PhysAddr) -> None:
        """A notifying write reached ``dst``: advance the receive ring or the credits it belongs to."""
        if is_inbox(self.model.topo, dst):
            ring = int(self.model.memory(dst).read(dst.offset, 8).view("<u8")[0])  # read now: the next credit reuses it
            self._credit(ring)
            return
        for start, end, queue in self._rx.get(_memory_key(dst), ()):
            if start <= dst.offset < end:
                queue.rx_head += 1
                self._wake(queue)
                return
        self._early.append(("data", dst))  # a peer that installed first: counted when this queue is installed

    def outbox_lock(self, cube: int, pe: int) -> simpy.Resource:
        """One credit at a time through a PE's outbox (its 8 bytes are read when the DMA starts)."""
        lock = self._outbox_locks.get((cube, pe))
        if lock is None:
            lock = self._outbox_locks[(cube, pe)] = simpy.Resource(self.model.env, 1)
        return lock

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
        """Every queue pair of this SIP: pointers, credits and what a PE waits for (msgpack-able)."""
        return {f"cube{c}.pe{p}": [q.describe() for q in table.values()] for (c, p), table in self.queues.items()}


def deadlock_from(exc: SimulationDeadlock) -> SimulationDeadlock:
    """`IpcqDeadlock` with a queue dump when a PE waits on an IPCQ queue at the deadlock, else ``exc`` itself."""
    queues = {lp["lp"]: lp["state"]["ipcq"] for lp in exc.lps if lp.get("state", {}).get("ipcq")}
    stuck = [(sip, pe, q) for sip, pes in queues.items() for pe, qs in pes.items() for q in qs if q["waiting"]]
    if not stuck:
        return exc
    lines = [f"IPCQ deadlock: {len(stuck)} queue(s) wait for something no PE will send"]
    lines += [f"  {sip}.{pe} {q['dir']}: waits for {q['waiting']}" for sip, pe, q in stuck]
    lines.append("queue pairs (tx_seq / credits: sending side; rx_head landed, rx_next taken, rx_tail freed):")
    for sip, pes in sorted(queues.items()):
        for pe, qs in pes.items():
            for q in qs:
                lines.append(
                    f"  {sip}.{pe} {q['dir']:<12} send_to={q['send_to']:<16} recv_from={q['recv_from']:<16} "
                    f"tx_seq={q['tx_seq']} credits={q['credits']} rx_head={q['rx_head']} "
                    f"rx_next={q['rx_next']} rx_tail={q['rx_tail']}"
                )
    lines.append(str(exc))
    return IpcqDeadlock("\n".join(lines), exc.blocked, exc.lps, queues, exc.finished)


def _memory_key(addr: PhysAddr) -> tuple:
    return (addr.unit, addr.cube, addr.pe)
