"""Physical addresses: which memory of which cube of which SIP a byte lives in.

Routing consumes decoded fields, never raw bit tricks, so the layout is defined once, here. A physical address
is a 63-bit integer (bit 63 stays 0 so addresses also fit a signed int64 numpy array)::

     63  62        49 48      44 43       36 35                                    0
    +---+------------+----------+-----------+---------------------------------------+
    | 0 | sip (14)   | cube (5) | unit (8)  | offset (36)                           |
    +---+------------+----------+-----------+---------------------------------------+

    sip     0..16383  the SIP (device); one logical process of the parallel engine each
    cube    0..31     cube id inside the SIP, y * w + x in the cube mesh
    unit    8 bits    which memory: kind in the high nibble, index in the low nibble
    offset  36 bits   byte offset inside that memory (up to 64 GiB: a 48 GiB HBM fits)

The widths are chosen in docs/adr/0005-physaddr-for-4096-sips.md and widened in docs/adr/0021 (two cube bits
went to the SIP field): 16,384 SIPs (a 128 x 128 torus) with the seeds' 16 cubes of 48 GiB of HBM, inside 63 bits.

Unit byte (``kind << 4 | index``):

    ======  ============  ==========================================================================
    byte    kind          memory
    ======  ============  ==========================================================================
    0x00    HBM           the cube's HBM; its slices are interleaved by offset (see `hbm_slice`)
    0x10    SRAM          the cube's SRAM, shared by its PEs
    0x20    M_CPU         the cube's M_CPU local memory
    0x30    IO            the SIP's IO chiplet (IO_CPU memory); the cube field must be 0
    0x8k    PE_TCM        TCM of PE k of the cube, k = 0..15
    ======  ============  ==========================================================================

``str(addr)`` spells the fields out (``sip1.cube3.pe5.tcm+0x1000``); the integer is for the wire and for tables.
Unknown unit bytes and non-zero reserved bits are decode errors.

HBM slices: the cube's HBM offset space is cut into ``interleave_bytes`` blocks dealt round-robin to the slices,
so block ``b`` lives in slice ``b % slices`` at block position ``b // slices`` there. Sequential traffic spreads
over every slice; that is where the cube's aggregate HBM bandwidth comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernbench.topology.schema import Topology

OFFSET_BITS = 36
UNIT_BITS = 8
CUBE_BITS = 5
SIP_BITS = 14

UNIT_SHIFT = OFFSET_BITS
CUBE_SHIFT = UNIT_SHIFT + UNIT_BITS
SIP_SHIFT = CUBE_SHIFT + CUBE_BITS
ADDR_BITS = SIP_SHIFT + SIP_BITS  # 63

MAX_SIPS = 1 << SIP_BITS
MAX_CUBES = 1 << CUBE_BITS
MAX_PES = 16  # the unit byte's low nibble
MAX_OFFSET = (1 << OFFSET_BITS) - 1


class UnitKind(IntEnum):
    """High nibble of the unit byte."""

    HBM = 0x0
    SRAM = 0x1
    M_CPU = 0x2
    IO = 0x3
    PE_TCM = 0x8

    @property
    def per_pe(self) -> bool:
        """Whether the low nibble names a PE (otherwise it must be 0)."""
        return self is UnitKind.PE_TCM


_KINDS = {kind.value: kind for kind in UnitKind}
"""High nibble -> kind, for decoding without the enum's slower lookup."""


def _check_field(name: str, value: object, limit: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"PhysAddr.{name}: expected int, got {value!r} ({type(value).__name__})")
    if not 0 <= value < limit:
        raise ValueError(f"PhysAddr.{name}: expected 0..{limit - 1}, got {value}")


def _check_unit_fields(unit: UnitKind, cube: int, pe: int) -> None:
    """The fields a unit constrains: ``pe`` is 0 unless the unit is per PE, ``cube`` is 0 for the IO chiplet."""
    if pe != 0 and not unit.per_pe:
        raise ValueError(f"PhysAddr.pe: must be 0 for unit {unit.name}, got {pe}")
    if cube != 0 and unit is UnitKind.IO:
        raise ValueError(f"PhysAddr.cube: must be 0 for unit IO (the SIP's IO chiplet), got {cube}")


@dataclass(frozen=True, kw_only=True)
class PhysAddr:
    """A decoded physical address. ``pe`` is only meaningful (and only allowed non-zero) for PE units."""

    sip: int
    cube: int
    unit: UnitKind
    pe: int = 0
    offset: int

    def __post_init__(self) -> None:
        _check_field("sip", self.sip, MAX_SIPS)
        _check_field("cube", self.cube, MAX_CUBES)
        unit = self.unit
        if type(unit) is not UnitKind:  # an int unit byte's kind: coerced, or an error naming the field
            try:
                if isinstance(unit, bool):
                    raise ValueError
                unit = UnitKind(unit)
            except ValueError:
                raise ValueError(
                    f"PhysAddr.unit: expected one of {', '.join(k.name for k in UnitKind)}, got {unit!r}"
                ) from None
            object.__setattr__(self, "unit", unit)
        _check_field("pe", self.pe, MAX_PES)
        _check_field("offset", self.offset, MAX_OFFSET + 1)
        _check_unit_fields(unit, self.cube, self.pe)

    @classmethod
    def _trusted(cls, sip: int, cube: int, unit: UnitKind, pe: int, offset: int) -> PhysAddr:
        """An address from fields already known to be valid (decoded bits, a checked address moved), unchecked.

        The model builds hundreds of thousands of addresses per run; checking each again costs more than the
        event it serves. Everything that takes addresses from users goes through the checking constructor.
        """
        addr = object.__new__(cls)
        addr.__dict__.update(sip=sip, cube=cube, unit=unit, pe=pe, offset=offset)
        return addr

    def offset_by(self, nbytes: int) -> PhysAddr:
        """The address ``nbytes`` further on in the same memory (the new offset is checked like the constructor's)."""
        offset = self.offset + nbytes
        _check_field("offset", offset, MAX_OFFSET + 1)
        return self._trusted(self.sip, self.cube, self.unit, self.pe, offset)

    # -- factories, one per kind of memory

    @classmethod
    def hbm(cls, sip: int, cube: int, offset: int) -> PhysAddr:
        return cls(sip=sip, cube=cube, unit=UnitKind.HBM, offset=offset)

    @classmethod
    def sram(cls, sip: int, cube: int, offset: int) -> PhysAddr:
        return cls(sip=sip, cube=cube, unit=UnitKind.SRAM, offset=offset)

    @classmethod
    def m_cpu(cls, sip: int, cube: int, offset: int) -> PhysAddr:
        return cls(sip=sip, cube=cube, unit=UnitKind.M_CPU, offset=offset)

    @classmethod
    def io(cls, sip: int, offset: int) -> PhysAddr:
        return cls(sip=sip, cube=0, unit=UnitKind.IO, offset=offset)

    @classmethod
    def tcm(cls, sip: int, cube: int, pe: int, offset: int) -> PhysAddr:
        return cls(sip=sip, cube=cube, unit=UnitKind.PE_TCM, pe=pe, offset=offset)

    # -- bits

    @property
    def unit_byte(self) -> int:
        return (int(self.unit) << 4) | self.pe

    def encode(self) -> int:
        """The integer address (see the module docstring for the layout)."""
        return (self.sip << SIP_SHIFT) | (self.cube << CUBE_SHIFT) | (self.unit_byte << UNIT_SHIFT) | self.offset

    @classmethod
    def decode(cls, addr: int) -> PhysAddr:
        """Split an integer address into its fields; raises ValueError for reserved bits or unknown units."""
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise ValueError(f"PhysAddr: expected an int address, got {addr!r} ({type(addr).__name__})")
        if not 0 <= addr < (1 << ADDR_BITS):
            raise ValueError(f"PhysAddr: address must be 0..2**{ADDR_BITS}-1 (bit 63 is reserved), got {addr:#x}")
        unit_byte = (addr >> UNIT_SHIFT) & ((1 << UNIT_BITS) - 1)
        kind = _KINDS.get(unit_byte >> 4)
        if kind is None:
            raise ValueError(f"PhysAddr.unit: unknown unit byte {unit_byte:#04x} in address {addr:#x}")
        cube, pe = (addr >> CUBE_SHIFT) & ((1 << CUBE_BITS) - 1), unit_byte & 0xF
        _check_unit_fields(kind, cube, pe)  # the masks keep every field in range; only these pairings can be wrong
        return cls._trusted(addr >> SIP_SHIFT, cube, kind, pe, addr & MAX_OFFSET)

    def __str__(self) -> str:
        if self.unit is UnitKind.IO:
            return f"sip{self.sip}.io+{self.offset:#x}"
        if self.unit.per_pe:
            return f"sip{self.sip}.cube{self.cube}.pe{self.pe}.tcm+{self.offset:#x}"
        return f"sip{self.sip}.cube{self.cube}.{self.unit.name.lower()}+{self.offset:#x}"


def unit_capacity(topo: Topology, unit: UnitKind) -> int:
    """Size in bytes of one instance of ``unit`` in this topology (the TCM size counts the scheduler's part)."""
    if unit == UnitKind.HBM:  # a chain of tests, not a dict of every size: checks of every request ask this
        return topo.cube.hbm_ctrl.capacity_bytes
    if unit == UnitKind.PE_TCM:
        return topo.pe.pe_tcm.size_bytes
    if unit == UnitKind.SRAM:
        return topo.cube.sram.size_bytes
    if unit == UnitKind.M_CPU:
        return topo.cube.m_cpu.mem_bytes
    if unit == UnitKind.IO:
        return topo.sip.io_chiplet.io_cpu.mem_bytes
    raise KeyError(unit)


def check_addr(addr: PhysAddr, topo: Topology, nbytes: int = 1) -> None:
    """Raise ValueError naming the field if ``addr .. addr + nbytes`` does not exist in ``topo``."""
    if addr.sip >= topo.sip_count:
        raise ValueError(f"PhysAddr.sip: {addr.sip} out of range, the system has {topo.sip_count} SIPs")
    if addr.cube >= topo.cubes_per_sip:
        raise ValueError(f"PhysAddr.cube: {addr.cube} out of range, a SIP has {topo.cubes_per_sip} cubes")
    if addr.unit.per_pe and addr.pe >= topo.pes_per_cube:
        raise ValueError(f"PhysAddr.pe: {addr.pe} out of range, a cube has {topo.pes_per_cube} PEs")
    size = unit_capacity(topo, addr.unit)
    if nbytes < 0 or addr.offset + nbytes > size:
        raise ValueError(
            f"PhysAddr.offset: [{addr.offset:#x}, {addr.offset + nbytes:#x}) "
            f"outside {addr.unit.name} of {size:#x} bytes"
        )


def hbm_slice(offset: int, n_slices: int, interleave_bytes: int) -> int:
    """The HBM slice that holds byte ``offset`` of a cube's HBM (blocks dealt round-robin to the slices)."""
    _check_interleave(offset, n_slices, interleave_bytes)
    return (offset // interleave_bytes) % n_slices


def hbm_slice_offset(offset: int, n_slices: int, interleave_bytes: int) -> int:
    """Where byte ``offset`` of the cube's HBM sits inside its slice."""
    _check_interleave(offset, n_slices, interleave_bytes)
    block, within = divmod(offset, interleave_bytes)
    return (block // n_slices) * interleave_bytes + within


def _check_interleave(offset: int, n_slices: int, interleave_bytes: int) -> None:
    if offset < 0:
        raise ValueError(f"hbm_slice: offset must be >= 0, got {offset}")
    if n_slices < 1:
        raise ValueError(f"hbm_slice: n_slices must be >= 1, got {n_slices}")
    if interleave_bytes < 1:
        raise ValueError(f"hbm_slice: interleave_bytes must be >= 1, got {interleave_bytes}")
