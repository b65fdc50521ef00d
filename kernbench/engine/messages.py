"""What host code asks of a SIP: the request messages `Engine.submit` accepts.

Messages are plain frozen dataclasses checked when they are built (types and signs) and again against the
topology when they are submitted (addresses exist, sizes fit). Addresses are `PhysAddr`; virtual addresses only
appear in `MmuMapMsg` / `MmuUnmapMsg`, which install translations used by kernels.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernbench.topology import PhysAddr

HEADER_BYTES = 64
"""Bytes of a request or acknowledgement that carries no data (command descriptor, read request, ack)."""


def _count(owner: str, field: str, value: Any, minimum: int = 0) -> int:
    """``value``, whatever a message field was given, as an int >= ``minimum``; else an error naming the field."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{owner}.{field}: expected an int, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{owner}.{field}: must be >= {minimum}, got {number}")
    return number


def _cubes(msg: Any, owner: str) -> None:
    if msg.cubes is not None:
        cubes = tuple(sorted({_count(owner, "cubes", c) for c in msg.cubes}))
        if not cubes:
            raise ValueError(f"{owner}.cubes: empty; leave it None for every cube")
        object.__setattr__(msg, "cubes", cubes)


def _addr(owner: str, field: str, value: object) -> None:
    if not isinstance(value, PhysAddr):
        raise TypeError(f"{owner}.{field}: expected a PhysAddr, got {value!r}")


@dataclass(frozen=True, init=False)
class MemoryWriteMsg:
    """Host to device (H2D): write ``data`` (any numpy array or bytes, stored as its bytes) or ``nbytes`` of ``fill``.

    Built from either; once built, ``data`` holds the bytes as uint8 (None for a fill) and ``nbytes`` counts them.
    """

    addr: PhysAddr
    data: np.ndarray | None
    nbytes: int
    fill: int

    def __init__(
        self, addr: PhysAddr, data: np.ndarray | bytes | None = None, nbytes: int | None = None, fill: int = 0
    ) -> None:
        _addr("MemoryWriteMsg", "addr", addr)
        raw = None
        if data is not None:
            raw = (
                np.ascontiguousarray(
                    data if isinstance(data, np.ndarray) else np.frombuffer(bytes(data), dtype=np.uint8)
                )
                .reshape(-1)
                .view(np.uint8)
            )
            if nbytes is not None and nbytes != raw.size:
                raise ValueError(f"MemoryWriteMsg.nbytes: {nbytes} but data has {raw.size} bytes")
            raw = raw.copy()  # the host may reuse its buffer once submitted
            nbytes = raw.size
        elif nbytes is None:
            raise ValueError("MemoryWriteMsg: give data or nbytes (with an optional fill byte)")
        object.__setattr__(self, "addr", addr)
        object.__setattr__(self, "data", raw)
        object.__setattr__(self, "nbytes", _count("MemoryWriteMsg", "nbytes", nbytes, 1))
        object.__setattr__(self, "fill", fill)
        if _count("MemoryWriteMsg", "fill", fill) > 255:
            raise ValueError(f"MemoryWriteMsg.fill: a byte 0..255, got {fill}")

    @property
    def sip(self) -> int:
        return self.addr.sip


@dataclass(frozen=True)
class MemoryReadMsg:
    """Device to host (D2H): read ``nbytes`` at ``addr``; the completion's ``data`` holds them."""

    addr: PhysAddr
    nbytes: int

    def __post_init__(self) -> None:
        _addr("MemoryReadMsg", "addr", self.addr)
        object.__setattr__(self, "nbytes", _count("MemoryReadMsg", "nbytes", self.nbytes, 1))

    @property
    def sip(self) -> int:
        return self.addr.sip


@dataclass(frozen=True)
class PeDmaMsg:
    """PE ``(sip, cube, pe)`` copies ``nbytes`` from ``src`` to ``dst``: any memory of any SIP.

    The request is issued by the PE's DMA engine in SIP ``sip``; either end may be on another SIP, in which case
    the bytes cross the inter-SIP links.
    """

    sip: int
    cube: int
    pe: int
    src: PhysAddr
    dst: PhysAddr
    nbytes: int
    notify: bool = False
    """Tell the IPCQ of the destination's SIP when the bytes land (queue data and credits); such a write from the
    PE's own SIP is posted: it completes when its bytes have left, with no acknowledgement."""

    def __post_init__(self) -> None:
        for field in ("sip", "cube", "pe"):
            _count("PeDmaMsg", field, getattr(self, field))
        _addr("PeDmaMsg", "src", self.src)
        _addr("PeDmaMsg", "dst", self.dst)
        object.__setattr__(self, "nbytes", _count("PeDmaMsg", "nbytes", self.nbytes, 1))


@dataclass(frozen=True)
class MmuMapMsg:
    """Map ``nbytes`` of virtual addresses from ``va`` onto physical ``pa`` in SIP ``sip`` (page granular).

    ``cubes``: the cubes whose page tables get the mapping (None: every cube of the SIP). ``subpage``: map exactly
    these bytes, with no page alignment (ADR 0010: a tensor's blocks smaller than a page in different memories).
    """

    sip: int
    va: int
    pa: PhysAddr
    nbytes: int
    cubes: tuple[int, ...] | None = None
    subpage: bool = False

    def __post_init__(self) -> None:
        _count("MmuMapMsg", "sip", self.sip)
        _count("MmuMapMsg", "va", self.va)
        _addr("MmuMapMsg", "pa", self.pa)
        _count("MmuMapMsg", "nbytes", self.nbytes, 1)
        _cubes(self, "MmuMapMsg")


@dataclass(frozen=True)
class MmuUnmapMsg:
    """Remove the translations of ``nbytes`` of virtual addresses from ``va`` in SIP ``sip`` (``cubes``: as map;
    ``subpage``: exactly one sub-page mapping made with these ``va`` and ``nbytes``)."""

    sip: int
    va: int
    nbytes: int
    cubes: tuple[int, ...] | None = None
    subpage: bool = False

    def __post_init__(self) -> None:
        _count("MmuUnmapMsg", "sip", self.sip)
        _count("MmuUnmapMsg", "va", self.va)
        _count("MmuUnmapMsg", "nbytes", self.nbytes, 1)
        _cubes(self, "MmuUnmapMsg")


@dataclass(frozen=True)
class KernelLaunchMsg:
    """Run ``program(pe_context)`` on PEs ``pes`` (``(cube, pe)`` pairs) of SIP ``sip``, all starting together.

    ``program`` is host-side Python (a kernel wrapped by the kernels layer); it never crosses processes, since a
    launch is submitted by host code running where its SIP is simulated. ``after``: the handle of an earlier
    launch on this SIP that this one waits for once it has reached the IO_CPU (a stream: a process group's
    collectives run one after the other, in the order the host submitted them, without the host waiting).
    """

    sip: int
    name: str
    program: Callable[[Any], Any]
    pes: tuple[tuple[int, int], ...]
    after: Any = None

    def __post_init__(self) -> None:
        _count("KernelLaunchMsg", "sip", self.sip)
        if not callable(self.program):
            raise TypeError(f"KernelLaunchMsg.program: expected a callable, got {self.program!r}")
        pes = tuple(
            (int(_count("KernelLaunchMsg", "pes", c)), int(_count("KernelLaunchMsg", "pes", p))) for c, p in self.pes
        )
        if not pes:
            raise ValueError(f"KernelLaunchMsg {self.name!r}: pes is empty")
        if len(set(pes)) != len(pes):
            raise ValueError(f"KernelLaunchMsg {self.name!r}: a PE is listed twice in pes")
        object.__setattr__(self, "pes", pes)


@dataclass(frozen=True)
class IpcqInitMsg:
    """Install the IPCQ queue pairs ``queues`` (`kernbench.engine.ipcq.QueueSpec`) on PE ``(sip, cube, pe)``."""

    sip: int
    cube: int
    pe: int
    queues: tuple[Any, ...]

    def __post_init__(self) -> None:
        for field in ("sip", "cube", "pe"):
            _count("IpcqInitMsg", field, getattr(self, field))
        object.__setattr__(self, "queues", tuple(self.queues))
        directions = [q.direction for q in self.queues]
        if len(set(directions)) != len(directions):
            raise ValueError(f"IpcqInitMsg: a direction is listed twice: {directions}")


Request = IpcqInitMsg | KernelLaunchMsg | MemoryWriteMsg | MemoryReadMsg | PeDmaMsg | MmuMapMsg | MmuUnmapMsg
