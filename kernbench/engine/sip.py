"""One SIP as a logical process of the parallel engine: its fabric, host port, SerDes, page table and requests.

Everything inside a SIP happens in its LP's SimPy environment. Bytes bound for another SIP leave through the SerDes:
they cross the IO chiplet to the SerDes port of the first inter-SIP link on the route (each link direction has its
own), serialize onto it (a local `Link` at the inter-SIP bandwidth), and travel as one pdes message whose latency is
the link's (the lookahead). Under a what-if scenario (`kernbench.scenario`) a degraded link's ports serialise at its
rate, and the route avoids the links down at the instant each SIP picks its next hop: a packet already on a link
when it fails arrives; one that reaches a SIP afterwards takes the detour from there. The stream is cut-through
across SIPs: the message leaves when the *head* is on the wire
and carries the tail's lag, so the receiving SIP continues the same stream (`transfer(..., tail_lag=)`) and an
uncontended cross-SIP copy costs exactly the closed-form sum of its hops. A SIP that is not the destination forwards
the stream SerDes to SerDes through its IO chiplet.

Request flows (``HEADER_BYTES`` is the size of a request or acknowledgement without data):

- `MemoryWriteMsg` (H2D): a command header host -> IO_CPU, the IO_CPU's ``overhead_ns``, then the data host ->
  switch -> PCIe -> IO NoC -> mesh -> memory; the bytes are stored when the tail lands.
- `MemoryReadMsg` (D2H): the same command phase, a read request (header) IO_CPU -> the memory's controller,
  then memory -> ... -> host; the bytes are read when the stream starts and returned in the completion.
- `PeDmaMsg`: the PE's DMA descriptor setup (``pe_dma.overhead_ns``), then the copy. The source is read where it
  lives: a remote source first gets a read request (header) from the PE. The destination is written when the
  tail lands; if that is on another SIP than the PE's, an acknowledgement (header) returns to the PE's SIP, and
  the request completes when it arrives. A ``notify`` write (IPCQ data and credits) from the PE's own SIP is
  posted instead: it completes when its last byte has left the SIP, and the queue's credits do the flow control.
- `KernelLaunchMsg`: the command phase, then IO_CPU -> the M_CPU of every cube involved (``m_cpu.overhead_ns``)
  -> each PE (a header each), all as timed transfers. Every PE then starts at the same instant: the arrival of
  the slowest dispatch plus ``pe_cpu.overhead_ns`` (the launch start barrier), so measurements across PEs do not
  carry dispatch offsets. Each PE runs the program (`kernbench.engine.pe`); when the last PE finishes, a
  completion header goes from its PE to the host.
- `MmuMapMsg` / `MmuUnmapMsg`: the command phase, then the IO_CPU sends the update (header) to the M_CPU of
  every cube it names (all by default) at once; each cube has its own page table, so a replicated tensor can map
  one virtual range to each cube's local copy; each pays ``m_cpu.overhead_ns``; the tables change when the
  last one is done.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import simpy

from kernbench.components import Flow, HostPort, Memory, SipFabric, Stage, TransferTiming, transfer
from kernbench.components.fabric import Endpoint
from kernbench.engine.completion import Completion, Handle, Ledger
from kernbench.engine.ipcq import IpcqUnit
from kernbench.engine.messages import (
    HEADER_BYTES,
    IpcqInitMsg,
    KernelLaunchMsg,
    MemoryReadMsg,
    MemoryWriteMsg,
    MmuMapMsg,
    MmuUnmapMsg,
    PeDmaMsg,
    Request,
)
from kernbench.engine.mmu import PageTable
from kernbench.engine.pe import KernelError, PeContext, launch_detail, run_program
from kernbench.engine.recorder import Recording, SipRecorder
from kernbench.scenario import NO_SCENARIO, PeSpeed, Scenario
from kernbench.topology import NONE_DOWN, OPPOSITE, PhysAddr, Topology, UnitKind, check_addr, first_hop, links_from
from pdes import LP, Message
from pdes.clock import wake_at

_Arrival = tuple[float, int, TransferTiming, TransferTiming]
"""A launch header's arrival at a PE: (time, cube, timing to the cube's M_CPU, timing from there to the PE)."""

_CUBE_MEMORY_KINDS = {UnitKind.HBM: "hbm", UnitKind.SRAM: "sram", UnitKind.M_CPU: "m_cpu"}


def endpoint(addr: PhysAddr) -> Endpoint:
    """The fabric endpoint a physical address is reached at."""
    if addr.unit is UnitKind.PE_TCM:
        return ("pe", addr.cube, addr.pe)
    if addr.unit is UnitKind.IO:
        return ("io",)
    return (_CUBE_MEMORY_KINDS[addr.unit], addr.cube)


def _hbm_offset(addr: PhysAddr) -> int:
    return addr.offset if addr.unit is UnitKind.HBM else 0


class SipModel:
    """The state of LP ``sip<n>``: built by the engine on the rank that owns the SIP."""

    def __init__(
        self,
        lp: LP,
        topo: Topology,
        sip: int,
        *,
        report_requests: bool = True,
        recording: Recording | None = None,
        scenario: Scenario = NO_SCENARIO,
    ) -> None:
        self.lp = lp
        self.env = env = lp.env
        self.topo = topo
        self.sip = sip
        self.name = f"sip{sip}"
        # before the links: each link finds the recorder's probe when it is built
        self.recorder: SipRecorder | None = recording.recorder(sip, env) if recording is not None else None
        self.links_out = {link.direction: link for link in links_from(topo.system, sip)}
        self.scenario = scenario
        self.speed = PeSpeed(scenario, sip)  # its PEs' compute and DMA issue times
        rates = {d: scenario.rate(sip, link.dst) for d, link in self.links_out.items()}
        self.fabric = SipFabric(env, topo, sip, {d: gbs for d, gbs in rates.items() if gbs is not None})
        self.host = HostPort(env, topo, sip)
        self.ipcq = IpcqUnit(self)
        self.page_tables = [PageTable(topo, sip) for _ in range(topo.cubes_per_sip)]  # one per cube's M_CPU
        self._fails = scenario.fails
        self._first_hops: dict[tuple[frozenset, int], Endpoint] = {}  # (links down, destination) -> SerDes port
        self.report_requests = report_requests  # also: keep per-hop timings (`Completion.hops`) or not
        self.completed: list[dict[str, Any]] = []  # stays empty unless report_requests
        self._pending: dict[int, tuple[str, int, bool]] = {}  # tag -> (request name, bytes, record it)
        self._events: dict[int, Any] = {}
        self._dma_pe: dict[int, Endpoint] = {}  # tag -> the PE whose DMA issued it (where acknowledgements land)
        self._tags = itertools.count()
        self._command_path: tuple[Stage, ...] | None = None  # host -> IO_CPU, built on first use
        lp.on_receive(self._on_packet)
        lp.on_describe(lambda: {"ipcq": self.ipcq.describe()})

    # -- host side ---------------------------------------------------------------------------------------------

    def submit(self, msg: Request, *, record: bool = True) -> Handle:
        """Check ``msg`` against the topology and start it now; raises ValueError naming the bad field.

        ``record``: list the completion in the SIP's report (host requests); kernels' own DMAs are not listed.
        """
        self._check(msg)
        tag = next(self._tags)
        event = self.env.event()
        name = type(msg).__name__
        self._pending[tag] = (name, _payload_bytes(msg), record)
        self._events[tag] = event
        self.env.process(_FLOWS[type(msg)](self, msg, tag))
        return Handle(self.sip, tag, name, event)

    def ledger(self) -> Ledger:
        """A new request's ledger, from now: with a per-hop trace only when requests are reported."""
        return Ledger(self.env.now, hops=[] if self.report_requests else None)

    def transfer(
        self, path: Sequence[Stage], nbytes: int, *, tail_lag: float = 0.0, release: str = "tail"
    ) -> simpy.Process:
        """`kernbench.components.transfer` over a path built here (so unchecked), with hop traces as `ledger`."""
        return transfer(path, nbytes, tail_lag=tail_lag, release=release, hops=self.report_requests, check=False)

    def memory(self, addr: PhysAddr) -> Memory:
        return self.fabric.memory(addr)

    def report(self) -> dict[str, Any]:
        """What the LP reports at the end of a run: every completed host request, in completion order (when the
        engine reports requests; else an empty list)."""
        return {"sip": self.sip, "completed": self.completed}

    # -- checks ------------------------------------------------------------------------------------------------

    def _check(self, msg: Request) -> None:
        name = type(msg).__name__
        if msg.sip != self.sip:
            raise ValueError(f"{name}: addressed to sip{msg.sip} but submitted on {self.name}")
        if isinstance(msg, MemoryWriteMsg | MemoryReadMsg):
            _check_addr(name, "addr", msg.addr, self.topo, msg.nbytes)
        elif isinstance(msg, PeDmaMsg):
            if msg.cube >= self.topo.cubes_per_sip or msg.pe >= self.topo.pes_per_cube:
                raise ValueError(
                    f"PeDmaMsg: PE (sip{msg.sip}, cube {msg.cube}, pe {msg.pe}) does not exist: a SIP has "
                    f"{self.topo.cubes_per_sip} cubes of {self.topo.pes_per_cube} PEs"
                )
            _check_addr(name, "src", msg.src, self.topo, msg.nbytes)
            _check_addr(name, "dst", msg.dst, self.topo, msg.nbytes)
            if (
                msg.src.sip == msg.dst.sip
                and endpoint(msg.src) == endpoint(msg.dst)
                and msg.src.unit is not (UnitKind.PE_TCM)
            ):
                raise ValueError(
                    f"PeDmaMsg: src {msg.src} and dst {msg.dst} are in the same memory; a copy inside one "
                    "HBM, SRAM or M_CPU memory is not modelled: stage it through a TCM"
                )
        elif isinstance(msg, IpcqInitMsg):
            installed = self.ipcq.queues.get((msg.cube, msg.pe), {})
            again = [q.direction for q in msg.queues if q.direction in installed]
            if again:
                raise ValueError(
                    f"IpcqInitMsg: sip{msg.sip} cube {msg.cube} pe {msg.pe} already has IPCQ direction {again[0]!r}"
                )
            for q in msg.queues:
                for field in ("rx_base", "peer_rx_base"):
                    if getattr(q, field) is not None:
                        _check_addr(name, f"queues[{q.direction}].{field}", getattr(q, field), self.topo, q.ring_bytes)
                if q.rx_base is not None and q.rx_base.sip != self.sip:
                    raise ValueError(f"IpcqInitMsg: queues[{q.direction}].rx_base {q.rx_base} is not on sip{self.sip}")
        elif isinstance(msg, KernelLaunchMsg):
            for cube, pe in msg.pes:
                if cube >= self.topo.cubes_per_sip or pe >= self.topo.pes_per_cube:
                    raise ValueError(
                        f"KernelLaunchMsg {msg.name!r}: PE (cube {cube}, pe {pe}) does not exist: a SIP has "
                        f"{self.topo.cubes_per_sip} cubes of {self.topo.pes_per_cube} PEs"
                    )
        elif isinstance(msg, MmuMapMsg):
            for cube in self._mmu_cubes(msg):
                self.page_tables[cube].check_map(msg.va, msg.pa, msg.nbytes, subpage=msg.subpage)
        else:
            for cube in self._mmu_cubes(msg):
                self.page_tables[cube].check_unmap(msg.va, msg.nbytes, subpage=msg.subpage)

    # -- flows that start here ---------------------------------------------------------------------------------

    def _h2d(self, msg: MemoryWriteMsg, tag: int) -> Flow[None]:
        ledger = self.ledger()
        yield from self._host_command(ledger)
        addr, n = msg.addr, msg.nbytes
        path = [*self.host.downstream, *self.fabric.path(("pcie",), endpoint(addr), n, dst_offset=_hbm_offset(addr))]
        yield from self._move(ledger, path, n)
        if msg.data is not None:
            self.memory(addr).write(addr.offset, msg.data)
        else:
            self.memory(addr).fill(addr.offset, n, msg.fill)
        self._complete(tag, ledger)

    def _d2h(self, msg: MemoryReadMsg, tag: int) -> Flow[None]:
        ledger = self.ledger()
        yield from self._host_command(ledger)
        addr, n = msg.addr, msg.nbytes
        if endpoint(addr) != ("io",):  # the read request to the memory's controller
            yield from self._move(ledger, self.fabric.route(("io",), endpoint(addr)), HEADER_BYTES)
        data = self.memory(addr).read(addr.offset, n)
        path = [*self.fabric.path(endpoint(addr), ("pcie",), n, src_offset=_hbm_offset(addr)), *self.host.upstream]
        yield from self._move(ledger, path, n)
        self._complete(tag, ledger, data)

    def _mmu_update(self, msg: MmuMapMsg | MmuUnmapMsg, tag: int) -> Flow[None]:
        ledger = self.ledger()
        yield from self._host_command(ledger)
        start = self.env.now
        cubes = self._mmu_cubes(msg)
        fan = [self.transfer(self.fabric.path(("io",), ("m_cpu", c), HEADER_BYTES), HEADER_BYTES) for c in cubes]
        timings: list[TransferTiming] = []
        for proc in fan:
            timings.append((yield proc))
        last = max(timings, key=lambda t: t.end)  # the cube that finished last decides; ties: the lowest cube
        ledger.transfer(last)
        cost = self.topo.cube.m_cpu.overhead_ns
        end = ledger.command(f"{self.name}.m_cpu*", max(last.end, start), cost)
        yield wake_at(self.env, end)
        for cube in cubes:
            if isinstance(msg, MmuMapMsg):
                self.page_tables[cube].map(msg.va, msg.pa, msg.nbytes, subpage=msg.subpage)
            else:
                self.page_tables[cube].unmap(msg.va, msg.nbytes, subpage=msg.subpage)
        self._complete(tag, ledger)

    def _mmu_cubes(self, msg: MmuMapMsg | MmuUnmapMsg) -> tuple[int, ...]:
        """The cubes whose page tables a map / unmap changes (all when the message names none)."""
        if msg.cubes is None:
            return tuple(range(self.topo.cubes_per_sip))
        bad = [c for c in msg.cubes if c >= self.topo.cubes_per_sip]
        if bad:
            raise ValueError(
                f"{type(msg).__name__}.cubes: cube {bad[0]} out of range, a SIP has {self.topo.cubes_per_sip} cubes"
            )
        return msg.cubes

    def _ipcq_init(self, msg: IpcqInitMsg, tag: int) -> Flow[None]:
        """The install plan travels host -> IO_CPU -> the PE (a header); the queues exist from completion on."""
        ledger = self.ledger()
        yield from self._host_command(ledger)
        yield from self._move(ledger, self.fabric.route(("io",), ("pe", msg.cube, msg.pe)), HEADER_BYTES)
        self.ipcq.install(msg.cube, msg.pe, msg.queues)
        self._complete(tag, ledger)

    def _pe_dma(self, msg: PeDmaMsg, tag: int) -> Flow[None]:
        ledger = self.ledger()
        unit = f"{self.name}.cube{msg.cube}.pe{msg.pe}.dma"
        setup = self.speed.unit_ns(self.topo.pe.pe_dma.overhead_ns)  # slower on a scenario's slow SIP
        yield wake_at(self.env, ledger.command(unit, self.env.now, setup))
        pe = ("pe", msg.cube, msg.pe)
        self._dma_pe[tag] = pe
        job = {
            "tag": tag,
            "origin": self.sip,
            "src": msg.src.encode(),
            "dst": msg.dst.encode(),
            "n": msg.nbytes,
            "notify": msg.notify,
            "posted": msg.notify and msg.src.sip == self.sip,
        }
        if msg.src.sip == self.sip:
            yield from self._copy_from_here(ledger, job, msg.src, msg.dst)
        else:
            port = self._port(msg.src.sip)
            lead = self.fabric.path(pe, port, HEADER_BYTES)
            yield from self._emit(ledger, {**job, "op": "read", "to": msg.src.sip}, port, lead, HEADER_BYTES)

    def _launch(self, msg: KernelLaunchMsg, tag: int) -> Flow[None]:
        """A kernel launch: dispatch to its PEs, their programs (`kernbench.engine.pe`), the completion to the host."""
        env, topo, fabric = self.env, self.topo, self.fabric
        ledger = self.ledger()
        yield from self._host_command(ledger)
        if msg.after is not None and not msg.after.event.processed:  # the stream's previous launch goes first
            with contextlib.suppress(Exception):  # its failure is its own host's to see; this launch goes on
                yield msg.after.event
        cubes = sorted({cube for cube, _ in msg.pes})
        dispatch = [env.process(self._dispatch_cube(cube, [p for c, p in msg.pes if c == cube])) for cube in cubes]
        arrivals = []
        for proc in dispatch:
            arrivals.extend((yield proc))
        _, cube, to_m_cpu, to_pe = max(arrivals, key=lambda item: item[0])  # the slowest path (first on ties)
        ledger.transfer(to_m_cpu)
        ledger.command(f"{self.name}.cube{cube}.m_cpu", to_m_cpu.end, topo.cube.m_cpu.overhead_ns)
        ledger.transfer(to_pe)
        start = ledger.command(f"{self.name}.pe_cpu", to_pe.end, topo.pe.pe_cpu.overhead_ns)
        yield wake_at(env, start)

        failed = env.event()
        contexts = [PeContext(self, msg.name, cube, pe, msg.pes) for cube, pe in msg.pes]
        runs = [env.process(run_program(ctx, msg.program, failed)) for ctx in contexts]
        yield simpy.AllOf(env, runs) | failed
        if failed.triggered:
            self._fail(tag, cast(KernelError, failed.value))  # SimPy types an event's value as Any | None
            return
        end = env.now
        ledger.command(f"{self.name}.kernel.{msg.name}", start, end - start)
        if self.recorder is not None:
            self.recorder.kernel(msg.name, contexts, start, end)
        last = max(contexts, key=lambda ctx: ctx.end_ns)  # the PE that finished last reports (first on ties)
        notify = [*fabric.path(("pe", last.cube, last.pe), ("pcie",), HEADER_BYTES), *self.host.upstream]
        ledger.transfer((yield self.transfer(notify, HEADER_BYTES)))
        self._complete(tag, ledger, detail=launch_detail(msg, contexts, start, end))

    def _dispatch_cube(self, cube: int, pes: list[int]) -> Flow[list[_Arrival]]:
        """IO_CPU -> M_CPU of ``cube`` -> each PE; returns [(arrival, cube, timing to M_CPU, timing to PE)]."""
        env, fabric = self.env, self.fabric
        to_m_cpu = yield self.transfer(fabric.path(("io",), ("m_cpu", cube), HEADER_BYTES), HEADER_BYTES)
        yield wake_at(env, env.now + self.topo.cube.m_cpu.overhead_ns)
        procs = [
            self.transfer(fabric.path(("m_cpu", cube), ("pe", cube, pe), HEADER_BYTES), HEADER_BYTES) for pe in pes
        ]
        arrivals = []
        for proc in procs:
            timing = yield proc
            arrivals.append((timing.end, cube, to_m_cpu, timing))
        return arrivals

    # -- flows that run where the data is ----------------------------------------------------------------------

    def _copy_from_here(self, ledger: Ledger, job: dict, src: PhysAddr, dst: PhysAddr) -> Flow[None]:
        """Read the source (on this SIP) now and stream it to the destination, here or on another SIP.

        ``src`` and ``dst`` are ``job``'s addresses, decoded (the job carries them encoded, for the wire)."""
        n = job["n"]
        data = self.memory(src).read(src.offset, n)
        if dst.sip == self.sip:
            if endpoint(src) == endpoint(dst):  # inside one TCM: out to the crossbar and back
                cube = self.fabric.cubes[src.cube]
                path: list[Stage] = [cube.pe_to_xbar[src.pe], cube.xbar_to_pe[src.pe]]
            else:
                path = self.fabric.path(
                    endpoint(src), endpoint(dst), n, src_offset=_hbm_offset(src), dst_offset=_hbm_offset(dst)
                )
            yield from self._move(ledger, path, n)
            self.memory(dst).write(dst.offset, data)
            yield from self._landed(ledger, job, dst)
        else:
            port = self._port(dst.sip)
            lead = self.fabric.path(endpoint(src), port, n, src_offset=_hbm_offset(src))
            packet = {**job, "op": "write", "to": dst.sip, "data": data.tobytes()}  # bytes: msgpack's own type
            tail_lag = yield from self._emit(ledger, packet, port, lead, n)
            if job.get("posted"):  # done once the last byte has left: no acknowledgement will come
                yield wake_at(self.env, self.env.now + tail_lag)
                self._complete(job["tag"], ledger)

    def _landed(self, ledger: Ledger, job: dict, dst: PhysAddr) -> Flow[None]:
        """The destination bytes are in place: complete here, or acknowledge to the PE's SIP.

        The acknowledgement leaves from the destination memory's crossbar port (no DRAM access) to the SerDes.
        """
        if job.get("notify"):
            self.ipcq.landed(dst)
        if job["origin"] == self.sip:
            self._complete(job["tag"], ledger)
        elif not job.get("posted"):
            ack = {"op": "ack", "to": job["origin"], "tag": job["tag"], "origin": job["origin"]}
            port = self._port(job["origin"])
            yield from self._emit(ledger, ack, port, self.fabric.route(endpoint(dst), port), HEADER_BYTES)

    # -- the inter-SIP side ------------------------------------------------------------------------------------

    def _emit(
        self, ledger: Ledger, packet: dict, port: Endpoint, lead: Sequence[Stage], nbytes: int, lag: float = 0.0
    ) -> Flow[float]:
        """Stream ``nbytes`` along ``lead`` (which ends in SerDes ``port``, from `_port`) onto its link and send
        the packet. Ends when the head is on the link; returns how long the tail takes to follow.
        """
        direction = str(port[1])
        timing = yield self.transfer(lead, nbytes, tail_lag=lag, release="head")
        ledger.transfer(timing)
        now = self.env.now
        tail_lag = timing.end - now
        link = self.links_out[direction]
        ledger.link(f"{self.name}->sip{link.dst}", now, link.latency_ns, tail_lag)
        self.lp.send(direction, {**packet, "n_wire": nbytes, "lag": tail_lag, "ledger": ledger.to_wire()})
        return tail_lag

    def _port(self, dst: int) -> Endpoint:
        """The SerDes port of the first inter-SIP link on the way to SIP ``dst``, around the links down now."""
        down = self.scenario.down_at(self.env.now) if self._fails else NONE_DOWN
        port = self._first_hops.get((down, dst))
        if port is None:
            port = self._first_hops[(down, dst)] = ("serdes", first_hop(self.topo.system, self.sip, dst, down))
        return port

    def _on_packet(self, message: Message) -> None:
        packet = message.payload
        ledger = Ledger.from_wire(packet["ledger"])
        self.env.process(self._arrive(ledger, packet, ("serdes", OPPOSITE[message.link])))

    def _arrive(self, ledger: Ledger, packet: dict, port: Endpoint) -> Flow[None]:
        """A packet came in at SerDes ``port``: pass it on towards its SIP, or land it here."""
        n_wire, lag = packet["n_wire"], packet["lag"]
        if packet["to"] != self.sip:  # pass through: SerDes in, IO NoC hub, SerDes out
            out = self._port(packet["to"])
            yield from self._emit(ledger, packet, out, self.fabric.route(port, out), n_wire, lag)
            return
        op = packet["op"]
        if op == "ack":
            yield from self._land(ledger, port, self._dma_pe[packet["tag"]], 0, n_wire, lag)
            self._complete(packet["tag"], ledger)
        elif op == "read":
            src = PhysAddr.decode(packet["src"])
            yield from self._land(ledger, port, endpoint(src), _hbm_offset(src), n_wire, lag)
            yield from self._copy_from_here(ledger, packet, src, PhysAddr.decode(packet["dst"]))
        else:  # write
            dst = PhysAddr.decode(packet["dst"])
            yield from self._land(ledger, port, endpoint(dst), _hbm_offset(dst), n_wire, lag)
            self.memory(dst).write(dst.offset, packet["data"])
            yield from self._landed(ledger, packet, dst)

    def _land(self, ledger: Ledger, port: Endpoint, dst: Endpoint, offset: int, nbytes: int, lag: float) -> Flow[None]:
        path = self.fabric.path(port, dst, nbytes, dst_offset=offset)
        ledger.transfer((yield self.transfer(path, nbytes, tail_lag=lag)))

    # -- shared steps ------------------------------------------------------------------------------------------

    def _host_command(self, ledger: Ledger) -> Flow[None]:
        """A command descriptor from the host to the IO_CPU, and the IO_CPU's processing of it."""
        if self._command_path is None:  # the same links for every request
            self._command_path = (*self.host.downstream, *self.fabric.path(("pcie",), ("io",), HEADER_BYTES))
        yield from self._move(ledger, self._command_path, HEADER_BYTES)
        cost = self.topo.sip.io_chiplet.io_cpu.overhead_ns
        yield wake_at(self.env, ledger.command(f"{self.name}.io_cpu", self.env.now, cost))

    def _move(self, ledger: Ledger, path: Sequence[Stage], nbytes: int) -> Flow[None]:
        ledger.transfer((yield self.transfer(path, nbytes)))

    def _complete(self, tag: int, ledger: Ledger, data: np.ndarray | None = None, detail: dict | None = None) -> None:
        name, nbytes, record = self._pending.pop(tag)
        self._dma_pe.pop(tag, None)
        completion = Completion.of(name, self.sip, tag, ledger, self.env.now, nbytes, data, detail)
        if record and self.report_requests:
            self.completed.append(completion.summary())
        self._events.pop(tag).succeed(completion)

    def _fail(self, tag: int, exc: BaseException) -> None:
        """End a request with an error: the host's wait raises it."""
        self._pending.pop(tag)
        self._events.pop(tag).fail(exc)


_FLOWS: dict[type, Callable[[SipModel, Any, int], Flow[None]]] = {
    MemoryWriteMsg: SipModel._h2d,
    MemoryReadMsg: SipModel._d2h,
    PeDmaMsg: SipModel._pe_dma,
    MmuMapMsg: SipModel._mmu_update,
    MmuUnmapMsg: SipModel._mmu_update,
    IpcqInitMsg: SipModel._ipcq_init,
    KernelLaunchMsg: SipModel._launch,
}
"""The flow that carries out each kind of request: ``flow(model, msg, tag)``."""


def _payload_bytes(msg: Request) -> int:
    return msg.nbytes if isinstance(msg, MemoryWriteMsg | MemoryReadMsg | PeDmaMsg) else 0


def _check_addr(msg: str, field: str, addr: PhysAddr, topo: Topology, nbytes: int) -> None:
    try:
        check_addr(addr, topo, nbytes)
    except ValueError as exc:
        raise ValueError(f"{msg}.{field}: {addr}: {exc}") from None
