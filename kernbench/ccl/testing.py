"""A mock runtime for IPCQ collective kernels: functional results in milliseconds, no engine, no time.

`run_kernel_in_mock` runs one greenlet per program (a PE of a rank) under a round-robin cooperative scheduler.
Each program owns a private byte memory that starts as its input (address 0 is its first byte) and a FIFO per
receive direction. The ``tl`` it gets (`MockTL`) shares the math of the engine's `TL` (`TLBase`), so dtypes round
the same way; only memory and IPCQ are stand-ins. Edges come from `kernbench.ccl.topologies.pe_edges`, landings
from `landing_direction`, as the install plans on the engine do, so an algorithm that passes here talks over the
same directions there.

Two layouts. ``cubes_per_sip == 0`` (the seeds' call, ``run_kernel_in_mock(kernel, world_size, topology, inputs,
kernel_args, pes_per_cube=...)``): every program is a rank of its own, the topology links the ``world_size`` ranks,
and ``pes_per_cube`` only groups them into cubes for ``tl.program_id``: ``program_id(0) = rank % pes_per_cube``,
``program_id(1) = rank // pes_per_cube``, ``num_programs(0) = pes_per_cube`` (``pes_per_cube == 0``: all ranks in
one cube, ``program_id(0) = rank``, ``num_programs(0) = world_size``). ``cubes_per_sip > 0``: rank = SIP of
``cubes_per_sip x pes_per_cube`` PEs (``program_id`` = the PE and cube inside the SIP), rank-level topologies link
PE ``(c, p)`` of one rank with PE ``(c, p)`` of the next, PE-level ones (``hierarchical_3level``, a module's
``neighbors``) connect PEs of a SIP as well.

Memory: the kernel gets pointer 0 and its tile is at 0 *and* at ``index * nbytes``, ``index = program_id(1) *
num_programs(0) + program_id(0)`` (``nbytes``: its input's size): the seeds' kernels compute ``t_ptr + rank *
nbytes`` from a base shared by every rank (a column-sharded tensor's VA, as ``torch.launch`` passes it), this
project's collective kernels get the shard's own pointer (as ``distributed.all_reduce`` passes it); both run
unchanged.

What it checks that a quick numpy model would not: sends block while the receiver's queue holds ``n_slots``
unconsumed tiles (the IPCQ ring is full), tiles bigger than ``slot_size`` are refused, a run where every live
program waits is a `MockDeadlock` that says who waits for what, and tiles left unreceived at the end are an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from greenlet import greenlet

from kernbench.ccl.topologies import CclGeometry, Node, PeEdges, landing_direction, pe_edges
from kernbench.engine import KernelError
from kernbench.engine.ipcq import free_in_order
from kernbench.kernels.dtypes import decode, dtype_info, encode
from kernbench.kernels.handle import TensorHandle
from kernbench.kernels.tl_base import LoadHandle, RecvHandle, SendHandle, TLBase, as_shape

SIP_TOPOLOGIES = ("torus_2d", "mesh_2d_no_wrap")
"""Topologies that also name the geometry's SIP topology; the mock takes ``ring_1d`` for any other."""


class MockDeadlock(RuntimeError):
    """Every live program waits; ``blocked`` has one dict per program: node, what it waits for, queue depths."""

    def __init__(self, message: str, blocked: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.blocked = blocked


@dataclass
class _Queue:
    """The tiles that landed on one direction of one program, by sequence number, until they are consumed."""

    tiles: dict[int, np.ndarray] = field(default_factory=dict)
    landed: int = 0
    claimed: int = 0
    released: int = 0
    waited: set[int] = field(default_factory=set)

    @property
    def depth(self) -> int:
        """Slots in use: landed and not yet freed (slots free in order, as on the IPCQ ring)."""
        return self.landed - self.released

    def consume(self, seq: int) -> np.ndarray:
        tile = self.tiles.pop(seq)
        self.released = free_in_order(self.waited, self.released, seq)
        return tile


@dataclass
class _Wait:
    """Why a program is parked: a send or recv on a direction, and the condition that lets it go on."""

    kind: str
    direction: str
    queue: _Queue
    ready: Callable[[], bool]
    peer: Node | None = None  # the receiver of a send


@dataclass(repr=False)
class _Program:
    """One PE of one rank: its memory, where its sends land, its receive queues, why it is parked."""

    node: Node
    memory: np.ndarray  # uint8, the program's private bytes
    ids: tuple[int, int] = (0, 0)  # program_id(0), program_id(1)
    counts: tuple[int, int] = (1, 1)  # num_programs(0), num_programs(1)
    routes: dict[str, tuple[_Program, str]] = field(default_factory=dict)  # send dir -> receiver, landing dir
    queues: dict[str, _Queue] = field(default_factory=dict)  # receive dir -> its queue
    wait: _Wait | None = None
    glet: Any = None

    def __repr__(self) -> str:  # programs point at each other: a dataclass repr would print them all, nested
        rank, cube, pe = self.node
        return f"rank {rank} cube {cube} pe {pe}"


class MockTL(TLBase[int]):
    """The ``tl`` of one mock program: `TLBase` math for free, byte memory, FIFO IPCQ with backpressure."""

    def __init__(
        self,
        program: _Program,
        ids: tuple[int, int],
        counts: tuple[int, int],
        main: Any,
        n_slots: int | None,
        slot_size: int | None,
    ) -> None:
        super().__init__(ids, counts)
        self._program = program
        self._main = main
        self._n_slots = n_slots
        self._slot_size = slot_size

    def _charge_math(self, name: str, elements: int) -> None:
        """Free: the mock keeps no time."""

    def _charge_gemm(self, flops: int) -> None:
        """Free: the mock keeps no time."""

    @property
    def rank(self) -> int:
        """This program's collective rank (its SIP)."""
        return self._program.node[0]

    # -- memory ----------------------------------------------------------------------------------------------------

    def load_async(
        self, ptr: int, shape: Sequence[int] | int, dtype: str = "f16", row_stride: int | None = None
    ) -> LoadHandle:
        """`load`'s bytes, read now (the mock keeps no time); `wait` gives the tile."""
        shape = as_shape(shape)
        size = dtype_info(dtype).itemsize
        if row_stride is None or len(shape) != 2:
            raw = self._span(ptr, math.prod(shape) * size, "load").copy()
        else:
            raw = np.concatenate([self._span(ptr + i * row_stride, shape[1] * size, "load") for i in range(shape[0])])
        return LoadHandle(shape, dtype, raw=raw)

    def store(self, ptr: int, value: TensorHandle | np.ndarray, dtype: str | None = None) -> None:
        """Write a tile at ``ptr`` (cast to ``dtype`` if given)."""
        raw = self._encode_for_store(value, dtype)
        self._span(ptr, raw.size, "store")[:] = raw

    def _span(self, ptr: int, nbytes: int, what: str) -> np.ndarray:
        """The program's bytes ``ptr .. ptr + nbytes`` (a view); anything outside its memory is an error.

        The memory is seen at 0 and at ``index * size`` (the seeds' ``t_ptr + rank * nbytes``, module docstring).
        """
        if isinstance(ptr, bool) or not isinstance(ptr, int | np.integer):
            raise TypeError(f"tl.{what}: the mock takes byte offsets (int) into the program's memory, got {ptr!r}")
        ptr, size = int(ptr), self._program.memory.size
        (pe, cube), (pes, _) = self._program.ids, self._program.counts
        base = (cube * pes + pe) * size
        for start in dict.fromkeys((0, base)):
            if start <= ptr <= ptr + nbytes <= start + size:
                return self._program.memory[ptr - start : ptr - start + nbytes]
        where = f"{size}-byte memory" + (f" (also seen at {base}..{base + size})" if base else "")
        raise ValueError(f"tl.{what} of {nbytes} bytes at {ptr}: outside {self._program}'s {where}")

    # -- IPCQ ------------------------------------------------------------------------------------------------------

    def send_async(self, dir: str, src: TensorHandle) -> SendHandle:
        """Queue a tile at the neighbour of ``dir``; parks while that queue holds ``n_slots`` tiles. The tile lands
        at once (the mock keeps no time), so `wait` on the handle only marks it waited for."""
        if dir not in self._program.routes:
            raise ValueError(
                f"tl.send on direction {dir!r}: {self._program} sends on "
                f"{sorted(self._program.routes) or 'no direction'}"
            )
        receiver, landing = self._program.routes[dir]
        raw = encode(src.value, src.dtype).copy()
        if self._slot_size is not None and raw.size > self._slot_size:
            raise ValueError(f"tl.send of {raw.size} bytes on {dir!r}: a slot holds {self._slot_size} bytes")
        queue = receiver.queues[landing]
        n_slots = self._n_slots
        self._park(_Wait("send", dir, queue, lambda: n_slots is None or queue.depth < n_slots, receiver.node))
        queue.tiles[queue.landed] = raw
        queue.landed += 1
        return SendHandle(dir, queue.landed - 1)

    def recv_async(
        self, dir: str, shape: Sequence[int] | int, dtype: str = "f16", dst: int | None = None
    ) -> RecvHandle:
        """Claim the next tile from ``dir``; `wait` gives it. Claims on one direction match tiles in order."""
        if dir not in self._program.queues:
            raise ValueError(
                f"tl.recv on direction {dir!r}: {self._program} receives on "
                f"{sorted(self._program.queues) or 'no direction'}"
            )
        queue = self._program.queues[dir]
        queue.claimed += 1
        return RecvHandle(dir, as_shape(shape), dtype, queue, queue.claimed - 1, dst)

    def wait_until(self, ns: float) -> None:
        """Nothing to wait for: the mock keeps no time."""

    def wait(self, handle: RecvHandle | SendHandle | LoadHandle) -> TensorHandle | None:
        """The tile of a load or receive (None for a receive into ``dst``, which then holds it); None for a send."""
        handle.claim()
        if isinstance(handle, LoadHandle):
            return TensorHandle(self, decode(handle.raw, handle.dtype, handle.shape), handle.dtype)
        if isinstance(handle, SendHandle):
            return None
        queue: _Queue = handle.queue
        self._park(_Wait("recv", handle.dir, queue, lambda: handle.seq in queue.tiles))
        raw = queue.consume(handle.seq)
        nbytes = math.prod(handle.shape) * dtype_info(handle.dtype).itemsize
        if raw.size != nbytes:
            raise ValueError(
                f"tl.recv on {handle.dir!r} of {handle.shape} {handle.dtype} ({nbytes} bytes): "
                f"the tile that arrived holds {raw.size} bytes"
            )
        if handle.dst is not None:
            self._span(handle.dst, nbytes, "recv")[:] = raw
            return None
        return TensorHandle(self, decode(raw, handle.dtype, handle.shape), handle.dtype)

    def _park(self, wait: _Wait) -> None:
        """Hand control to the scheduler until ``wait`` can go on (at once if it already can)."""
        if not wait.ready():
            self._program.wait = wait
            self._main.switch()


def run_kernel_in_mock(
    kernel_fn: Callable[..., Any],
    world_size: int,
    topology: str,
    inputs: Sequence[np.ndarray],
    kernel_args: tuple = (),
    pes_per_cube: int = 0,
    *,
    cubes_per_sip: int = 0,
    module: Any = None,
    n_slots: int | None = 8,
    slot_size: int | None = None,
    geometry: CclGeometry | None = None,
) -> list[np.ndarray]:
    """Run ``kernel_fn(0, *kernel_args, tl)`` once per program; each one's memory afterwards, as its input's array.

    ``cubes_per_sip == 0``: ``world_size`` ranks of one PE each, grouped ``pes_per_cube`` to a cube for
    ``tl.program_id`` (0: all in one cube), as the seeds' mock. ``cubes_per_sip > 0``: ``world_size`` counts PEs,
    ``pes_per_cube`` per cube, ``cubes_per_sip`` cubes per SIP, program ``i`` is (rank, cube, pe) in row-major
    order. ``module``: an algorithm module whose ``neighbors(rank, geometry, pes)`` adds PE-level edges.
    ``geometry``: what the topology sees (default: the cubes in one row, SIP topology from ``topology``).
    ``n_slots`` (None: unbounded) and ``slot_size`` (bytes, None: any) model the IPCQ rings. See the module
    docstring for where each program's tile is.
    """
    if len(inputs) != world_size:
        raise ValueError(f"run_kernel_in_mock: {len(inputs)} inputs for world_size {world_size}")
    ranks, cubes, pes = _layout(world_size, pes_per_cube, cubes_per_sip)
    if geometry is None:
        sip_topology = topology if topology in SIP_TOPOLOGIES else "ring_1d"
        geometry = CclGeometry(ranks, cubes, 1, pes, sip_topology)
    elif (geometry.world_size, geometry.cubes_per_sip) != (ranks, cubes):
        raise ValueError(
            f"run_kernel_in_mock: geometry has {geometry.world_size} ranks of "
            f"{geometry.cubes_per_sip} cubes, the run {ranks} of {cubes}"
        )
    lanes = [(cube, pe) for cube in range(cubes) for pe in range(pes)]
    edges = [pe_edges(topology, rank, geometry, lanes, getattr(module, "neighbors", None)) for rank in range(ranks)]
    nodes = [(rank, cube, pe) for rank in range(ranks) for cube, pe in lanes]
    if cubes_per_sip:
        ids = [((pe, cube), (pes, cubes)) for _, cube, pe in nodes]
    else:  # the seeds' layout: every program a rank, pes_per_cube of them to a cube
        group = pes_per_cube or world_size
        ids = [((rank % group, rank // group), (group, world_size // group)) for rank in range(world_size)]
    programs = [
        _Program(node, np.frombuffer(np.asarray(x).tobytes(), np.uint8).copy(), *pid)
        for node, x, pid in zip(nodes, inputs, ids, strict=True)
    ]
    _connect(programs, edges, topology)

    main = greenlet.getcurrent()
    name = getattr(kernel_fn, "__name__", repr(kernel_fn))
    for program in programs:
        tl = MockTL(program, program.ids, program.counts, main, n_slots, slot_size)
        program.glet = greenlet(lambda tl=tl: kernel_fn(0, *kernel_args, tl), parent=main)
    _schedule(programs, name)
    _check_drained(programs)
    return [
        program.memory.view(np.asarray(x).dtype).reshape(np.shape(x)).copy()
        for program, x in zip(programs, inputs, strict=True)
    ]


def _layout(world_size: int, pes_per_cube: int, cubes_per_sip: int) -> tuple[int, int, int]:
    """(ranks, cubes per rank, PEs per cube) of a run."""
    if world_size < 1 or pes_per_cube < 0 or cubes_per_sip < 0:
        raise ValueError(
            f"run_kernel_in_mock: world_size must be >= 1 and pes_per_cube, cubes_per_sip >= 0, got "
            f"{world_size}, {pes_per_cube}, {cubes_per_sip}"
        )
    if cubes_per_sip == 0:
        if pes_per_cube and world_size % pes_per_cube:
            raise ValueError(f"run_kernel_in_mock: {world_size} ranks do not fill cubes of {pes_per_cube} PEs")
        return world_size, 1, 1
    if pes_per_cube == 0:
        raise ValueError("run_kernel_in_mock: cubes_per_sip needs pes_per_cube")
    per_sip = pes_per_cube * cubes_per_sip
    if world_size % per_sip:
        raise ValueError(
            f"run_kernel_in_mock: {world_size} PEs do not split into SIPs of {cubes_per_sip} cubes x {pes_per_cube} PEs"
        )
    return world_size // per_sip, cubes_per_sip, pes_per_cube


def _connect(programs: list[_Program], edges: list[PeEdges], topology: str) -> None:
    """Give every program its send routes and the receive queues those routes land in."""
    by_node = {program.node: program for program in programs}
    for program in programs:
        rank, cube, pe = program.node
        for direction, peer in edges[rank].get((cube, pe), {}).items():
            if peer not in by_node:
                raise ValueError(
                    f"topology {topology!r}: {program} direction {direction!r} points at {peer}, which runs no program"
                )
            landing = landing_direction(direction, program.node, edges[peer[0]].get(peer[1:], {}))
            receiver = by_node[peer]
            receiver.queues.setdefault(landing, _Queue())
            program.routes[direction] = (receiver, landing)


def _schedule(programs: list[_Program], name: str) -> None:
    """Round robin over the programs that can go on, until all are done or none can."""
    live = list(programs)
    while live:
        progressed = False
        for program in live:
            if program.wait is not None and not program.wait.ready():
                continue
            program.wait, progressed = None, True
            try:
                program.glet.switch()
            except Exception as exc:
                raise KernelError(name, *program.node, exc) from exc
        live = [program for program in live if not program.glet.dead]
        if live and not progressed:
            raise _deadlock(live)


def _deadlock(blocked: list[_Program]) -> MockDeadlock:
    rows, lines = [], []
    for program in blocked:
        wait = program.wait
        assert wait is not None
        depths = {d: q.depth for d, q in sorted(program.queues.items())}
        row = {
            "node": program.node,
            "kind": wait.kind,
            "direction": wait.direction,
            "queue_depth": wait.queue.depth,
            "peer": wait.peer,
            "queues": depths,
        }
        rows.append(row)
        if wait.kind == "send":
            what = f"send on {wait.direction!r} to {wait.peer} (its queue holds {wait.queue.depth} tiles)"
        else:
            what = f"recv on {wait.direction!r} (its queue holds {wait.queue.depth} tiles)"
        queues = ", ".join(f"{d}={n}" for d, n in depths.items()) or "none"
        lines.append(f"  {program}: {what}; its receive queues: {queues}")
    return MockDeadlock("mock runtime: deadlock, every live program waits:\n" + "\n".join(lines), rows)


def _check_drained(programs: list[_Program]) -> None:
    """Tiles nobody received mean sends and receives of the algorithm do not pair up."""
    left = [
        f"{program} {d!r}: {len(q.tiles)}" for program in programs for d, q in sorted(program.queues.items()) if q.tiles
    ]
    if left:
        raise RuntimeError(
            "mock runtime: the kernels ended with tiles never received (or never waited for): " + "; ".join(left)
        )
