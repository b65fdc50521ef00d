"""Memory allocators of one device: per-PE HBM and TCM, per-cube SRAM, and the SIP's virtual address space.

Every allocator is the same first-fit range allocator (`RangeAllocator`) over a different range:

* HBM: each PE owns an equal ``1/pes_per_cube`` share of its cube's HBM offsets (rounded down to the alignment),
  so PEs never race for the same bytes; this share has nothing to do with the HBM's interleave slices. The last
  2 MiB of each share hold the PE's IPCQ receive rings (`kernbench.engine.ipcq.ring_region`) and are not handed out.
* TCM: the user part of each PE's TCM, ``[0, tcm_user_bytes)``; the scheduler keeps the rest.
* SRAM: a cube's SRAM, shared by its PEs, keyed ``(sip, cube)``, less the IPCQ rings at its top.
* VA: ``[va_base, va_end)`` of a SIP, page aligned (`VaAllocator`).

Keys are structural tuples, ``(sip, cube, pe)`` for PEs and ``(sip, cube)`` for cubes (ADR-0026: no flat PE
index). Failures raise `AllocationError` naming the memory, e.g. ``sip0 cube3 pe1 HBM: cannot allocate 1048576
bytes: 524288 free in the largest hole``; bad arguments (a size < 1) raise ValueError.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from kernbench.engine.ipcq import RING_AREA, hbm_share_bytes, sram_ring_bytes
from kernbench.topology import PhysAddr, Topology, UnitKind

DEFAULT_ALIGNMENT = 4096


class AllocationError(Exception):
    """A memory cannot satisfy a request, a free names no live allocation, or no such memory exists."""


def _align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


@dataclass(frozen=True)
class _Live:
    size: int  # bytes reserved (rounded up to the alignment)
    requested: int  # bytes asked for


class RangeAllocator:
    """First-fit allocator over ``[base, base + size)`` with aligned starts and sizes; frees coalesce holes.

    Sizes are rounded up to ``alignment`` so holes stay aligned and neighbours never share an aligned unit.
    """

    def __init__(self, size: int, *, name: str, base: int = 0, alignment: int = DEFAULT_ALIGNMENT) -> None:
        if size < 0 or base < 0:
            raise ValueError(f"{name}: base and size must be >= 0, got base={base} size={size}")
        if alignment < 1:
            raise ValueError(f"{name}: alignment must be >= 1, got {alignment}")
        self.name = name
        self.base = base
        self.size = size
        self.alignment = alignment
        self._starts: list[int] = []  # hole starts, sorted
        self._ends: list[int] = []  # hole ends, parallel to _starts
        self._live: dict[int, _Live] = {}
        self.free_all()

    @property
    def end(self) -> int:
        return self.base + self.size

    def alloc(self, nbytes: int) -> int:
        """Reserve ``nbytes`` at the lowest aligned address that fits; returns that address."""
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
            raise ValueError(f"{self.name}: allocation size must be an int >= 1, got {nbytes!r}")
        need = _align_up(nbytes, self.alignment)
        for i, (start, end) in enumerate(zip(self._starts, self._ends, strict=True)):
            addr = _align_up(start, self.alignment)
            if addr + need > end:
                continue
            self._carve(i, addr, addr + need)
            self._live[addr] = _Live(size=need, requested=nbytes)
            return addr
        rounded = f" ({need} after {self.alignment}-byte alignment)" if need != nbytes else ""
        raise AllocationError(
            f"{self.name}: cannot allocate {nbytes} bytes{rounded}: {self.largest_hole} free in the largest hole"
        )

    def _carve(self, i: int, lo: int, hi: int) -> None:
        start, end = self._starts[i], self._ends[i]
        del self._starts[i], self._ends[i]
        for s, e in ((hi, end), (start, lo)):  # insert the upper piece first so index i stays right
            if e > s:
                self._starts.insert(i, s)
                self._ends.insert(i, e)

    def free(self, addr: int, nbytes: int | None = None) -> None:
        """Release the allocation starting at ``addr``; ``nbytes``, if given, must be the size asked for."""
        live = self._live.get(addr)
        if live is None:
            raise AllocationError(
                f"{self.name}: free of {addr:#x}: no live allocation starts there (unknown address or double free)"
            )
        if nbytes is not None and nbytes not in (live.requested, live.size):
            raise AllocationError(
                f"{self.name}: free of {addr:#x} with {nbytes} bytes, but {live.requested} were allocated there"
            )
        del self._live[addr]
        lo, hi = addr, addr + live.size
        i = bisect.bisect_left(self._starts, lo)
        if i < len(self._starts) and self._starts[i] == hi:  # merge with the hole above
            hi = self._ends[i]
            del self._starts[i], self._ends[i]
        if i > 0 and self._ends[i - 1] == lo:  # merge with the hole below
            i -= 1
            lo = self._starts[i]
            del self._starts[i], self._ends[i]
        self._starts.insert(i, lo)
        self._ends.insert(i, hi)

    def free_all(self) -> None:
        """Forget every allocation: one hole spanning the whole range."""
        self._live.clear()
        self._starts[:] = [self.base] if self.size else []
        self._ends[:] = [self.end] if self.size else []

    def owns(self, addr: int) -> bool:
        """Whether ``addr`` lies inside this allocator's range."""
        return self.base <= addr < self.end

    @property
    def used_bytes(self) -> int:
        """Bytes reserved by live allocations (alignment padding included)."""
        return sum(live.size for live in self._live.values())

    @property
    def free_bytes(self) -> int:
        return self.size - self.used_bytes

    @property
    def largest_hole(self) -> int:
        """The biggest aligned request that would succeed now."""
        best = 0
        for start, end in zip(self._starts, self._ends, strict=True):
            usable = (end - _align_up(start, self.alignment)) // self.alignment * self.alignment
            best = max(best, usable)
        return best

    @property
    def holes(self) -> list[tuple[int, int]]:
        """The free ranges ``[start, end)``, in address order."""
        return list(zip(self._starts, self._ends, strict=True))

    @property
    def live_count(self) -> int:
        return len(self._live)

    def __repr__(self) -> str:
        return f"RangeAllocator({self.name!r}, {self.used_bytes}/{self.size} bytes used, {self.live_count} live)"


class VaAllocator(RangeAllocator):
    """A SIP's device virtual address space ``[va_base, va_end)``; every allocation is whole pages."""

    def __init__(self, va_base: int, va_end: int, page_bytes: int, *, name: str = "VA") -> None:
        if va_base % page_bytes:
            raise ValueError(f"{name}: va_base {va_base:#x} is not a multiple of the page size {page_bytes}")
        super().__init__(va_end - va_base, name=name, base=va_base, alignment=page_bytes)

    @property
    def page_bytes(self) -> int:
        return self.alignment

    @classmethod
    def for_topology(cls, topo: Topology, sip: int = 0) -> VaAllocator:
        mmu = topo.pe.pe_mmu
        return cls(mmu.va_base, mmu.va_end, mmu.page_bytes, name=f"sip{sip} VA")


class PeMemAllocator:
    """One PE's memories: its share of the cube's HBM and the user part of its TCM, as physical addresses."""

    def __init__(self, topo: Topology, sip: int, cube: int, pe: int, *, alignment: int = DEFAULT_ALIGNMENT) -> None:
        self.sip, self.cube, self.pe = sip, cube, pe
        share = hbm_share_bytes(topo, alignment)
        where = f"sip{sip} cube{cube} pe{pe}"
        self.hbm = RangeAllocator(share - RING_AREA, name=f"{where} HBM", base=pe * share, alignment=alignment)
        self.tcm = RangeAllocator(topo.pe.tcm_user_bytes, name=f"{where} TCM", alignment=alignment)

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.sip, self.cube, self.pe)

    def alloc_hbm(self, nbytes: int) -> PhysAddr:
        return PhysAddr.hbm(self.sip, self.cube, self.hbm.alloc(nbytes))

    def alloc_tcm(self, nbytes: int) -> PhysAddr:
        return PhysAddr.tcm(self.sip, self.cube, self.pe, self.tcm.alloc(nbytes))

    def free(self, addr: PhysAddr, nbytes: int | None = None) -> None:
        """Free an address this PE handed out (HBM or TCM); anything else is an AllocationError."""
        if (addr.sip, addr.cube) == (self.sip, self.cube):
            if addr.unit is UnitKind.HBM and self.hbm.owns(addr.offset):
                return self.hbm.free(addr.offset, nbytes)
            if addr.unit is UnitKind.PE_TCM and addr.pe == self.pe:
                return self.tcm.free(addr.offset, nbytes)
        raise AllocationError(f"sip{self.sip} cube{self.cube} pe{self.pe}: {addr} was not allocated by this PE")

    def free_all(self) -> None:
        self.hbm.free_all()
        self.tcm.free_all()


class SramAllocator:
    """A cube's SRAM, shared by its PEs."""

    def __init__(self, topo: Topology, sip: int, cube: int, *, alignment: int = DEFAULT_ALIGNMENT) -> None:
        self.sip, self.cube = sip, cube
        self.sram = RangeAllocator(
            topo.cube.sram.size_bytes - sram_ring_bytes(topo), name=f"sip{sip} cube{cube} SRAM", alignment=alignment
        )

    def alloc(self, nbytes: int) -> PhysAddr:
        return PhysAddr.sram(self.sip, self.cube, self.sram.alloc(nbytes))

    def free(self, addr: PhysAddr, nbytes: int | None = None) -> None:
        if addr.unit is not UnitKind.SRAM or (addr.sip, addr.cube) != (self.sip, self.cube):
            raise AllocationError(f"sip{self.sip} cube{self.cube} SRAM: {addr} was not allocated here")
        self.sram.free(addr.offset, nbytes)


class DeviceAllocators:
    """All allocators of the SIPs this process owns, created on first use and keyed by structural tuples.

    ``sips`` limits them to some SIPs (rank = SIP: a worker owns only its own); default: every SIP of ``topo``.
    """

    def __init__(
        self, topo: Topology, sips: Iterable[int] | None = None, *, alignment: int = DEFAULT_ALIGNMENT
    ) -> None:
        self.topo = topo
        self.alignment = alignment
        self.sips = tuple(sorted(set(range(topo.sip_count) if sips is None else sips)))
        for sip in self.sips:
            if not 0 <= sip < topo.sip_count:
                raise ValueError(f"DeviceAllocators: sip {sip} out of range, the system has {topo.sip_count} SIPs")
        self._pes: dict[tuple[int, int, int], PeMemAllocator] = {}
        self._srams: dict[tuple[int, int], SramAllocator] = {}
        self._vas: dict[int, VaAllocator] = {}

    def _check(self, what: str, sip: int, cube: int, pe: int | None = None) -> None:
        ok = sip in self.sips and 0 <= cube < self.topo.cubes_per_sip
        ok = ok and (pe is None or 0 <= pe < self.topo.pes_per_cube)
        if not ok:
            raise AllocationError(
                f"no {what} allocator for {(sip, cube) if pe is None else (sip, cube, pe)}: this process owns "
                f"sips {list(self.sips)}, cubes 0..{self.topo.cubes_per_sip - 1}, pes 0..{self.topo.pes_per_cube - 1}"
            )

    def __getitem__(self, key: tuple[int, int, int]) -> PeMemAllocator:
        """The PE allocator for structural key ``(sip, cube, pe)``."""
        if not (isinstance(key, tuple) and len(key) == 3):
            raise AllocationError(f"PE allocator key must be a (sip, cube, pe) tuple, got {key!r}")
        alloc = self._pes.get(key)
        if alloc is None:
            self._check("PE", *key)
            alloc = self._pes[key] = PeMemAllocator(self.topo, *key, alignment=self.alignment)
        return alloc

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except AllocationError:
            return False
        return True

    def sram(self, key: tuple[int, int]) -> SramAllocator:
        """The SRAM allocator of cube ``(sip, cube)``."""
        if not (isinstance(key, tuple) and len(key) == 2):
            raise AllocationError(f"SRAM allocator key must be a (sip, cube) tuple, got {key!r}")
        alloc = self._srams.get(key)
        if alloc is None:
            self._check("SRAM", *key)
            alloc = self._srams[key] = SramAllocator(self.topo, *key, alignment=self.alignment)
        return alloc

    def va(self, sip: int) -> VaAllocator:
        """The virtual address space of SIP ``sip``."""
        alloc = self._vas.get(sip)
        if alloc is None:
            if sip not in self.sips:
                raise AllocationError(f"no VA allocator for sip {sip}: this process owns sips {list(self.sips)}")
            alloc = self._vas[sip] = VaAllocator.for_topology(self.topo, sip)
        return alloc

    def free(self, addr: PhysAddr, nbytes: int | None = None) -> None:
        """Free a physical address whichever allocator handed it out (found from the address itself)."""
        if addr.unit is UnitKind.SRAM:
            return self.sram((addr.sip, addr.cube)).free(addr, nbytes)
        if addr.unit is UnitKind.PE_TCM:
            return self[(addr.sip, addr.cube, addr.pe)].free(addr, nbytes)
        if addr.unit is UnitKind.HBM:
            share = hbm_share_bytes(self.topo, self.alignment)
            pe = addr.offset // share if share else self.topo.pes_per_cube
            if pe >= self.topo.pes_per_cube:
                raise AllocationError(f"{addr}: beyond the PE shares of the cube's HBM")
            return self[(addr.sip, addr.cube, pe)].free(addr, nbytes)
        raise AllocationError(f"{addr}: {addr.unit.name} memory is not managed by the device allocators")

    def _all(self) -> list[RangeAllocator]:
        ranges: list[RangeAllocator] = []
        for pe_alloc in self._pes.values():
            ranges += [pe_alloc.hbm, pe_alloc.tcm]
        ranges += [s.sram for s in self._srams.values()]
        ranges += list(self._vas.values())
        return ranges

    def usage(self) -> dict[str, int]:
        """Bytes in use per memory name (only memories with live allocations), for leak checks."""
        return {r.name: r.used_bytes for r in self._all() if r.live_count}

    def usage_by_kind(self) -> dict[str, int]:
        """Bytes in use per kind of memory: ``HBM``, ``TCM``, ``SRAM`` and ``VA``, all four always present."""
        totals = dict.fromkeys(("HBM", "TCM", "SRAM", "VA"), 0)
        for r in self._all():
            totals[r.name.rsplit(" ", 1)[-1]] += r.used_bytes
        return totals

    @property
    def used_bytes(self) -> int:
        """Bytes in use across every memory and VA space."""
        return sum(r.used_bytes for r in self._all())

    def free_all(self) -> None:
        for r in self._all():
            r.free_all()
