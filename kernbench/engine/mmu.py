"""The page table of one SIP: device virtual pages to physical pages, shared by all its PEs."""

from __future__ import annotations

from dataclasses import replace

from kernbench.topology import PhysAddr, Topology, check_addr


class TranslationError(ValueError):
    """A virtual address with no mapping (or a bad map / unmap request)."""


class PageTable:
    """Page-granular VA -> PA translations inside ``[va_base, va_base + va_size)`` of the topology's ``pe_mmu``."""

    def __init__(self, topo: Topology, sip: int) -> None:
        mmu = topo.pe.pe_mmu
        self.topo = topo
        self.sip = sip
        self.page = mmu.page_bytes
        self.va_base, self.va_end = mmu.va_base, mmu.va_end
        self._pages: dict[int, PhysAddr] = {}  # virtual page number -> physical address of the page

    def __len__(self) -> int:
        return len(self._pages)

    def check_map(self, va: int, pa: PhysAddr, nbytes: int, what: str = "MmuMapMsg") -> None:
        """Raise TranslationError naming the field if the mapping cannot be installed."""
        self._check_range(va, nbytes, what)
        if pa.sip != self.sip:
            raise TranslationError(f"{what}.pa: {pa} is on sip{pa.sip}; a SIP maps its own memory only (sip{self.sip})")
        if pa.offset % self.page:
            raise TranslationError(f"{what}.pa: {pa} is not aligned to the {self.page}-byte page")
        try:
            check_addr(pa, self.topo, nbytes)
        except ValueError as exc:
            raise TranslationError(f"{what}.pa: {exc}") from None
        taken = [vpn for vpn in self._vpns(va, nbytes) if vpn in self._pages]
        if taken:
            raise TranslationError(f"{what}.va: {taken[0] * self.page:#x} is already mapped in sip{self.sip}")

    def check_unmap(self, va: int, nbytes: int, what: str = "MmuUnmapMsg") -> None:
        self._check_range(va, nbytes, what)
        missing = [vpn for vpn in self._vpns(va, nbytes) if vpn not in self._pages]
        if missing:
            raise TranslationError(f"{what}.va: {missing[0] * self.page:#x} is not mapped in sip{self.sip}")

    def map(self, va: int, pa: PhysAddr, nbytes: int) -> None:
        self.check_map(va, pa, nbytes)
        for i, vpn in enumerate(self._vpns(va, nbytes)):
            self._pages[vpn] = replace(pa, offset=pa.offset + i * self.page)

    def unmap(self, va: int, nbytes: int) -> None:
        self.check_unmap(va, nbytes)
        for vpn in self._vpns(va, nbytes):
            del self._pages[vpn]

    def translate(self, va: int) -> PhysAddr:
        """The physical address of virtual address ``va``."""
        pa = self._pages.get(va // self.page)
        if pa is None:
            raise TranslationError(f"sip{self.sip}: virtual address {va:#x} is not mapped")
        return replace(pa, offset=pa.offset + va % self.page)

    def _check_range(self, va: int, nbytes: int, what: str) -> None:
        if va % self.page:
            raise TranslationError(f"{what}.va: {va:#x} is not aligned to the {self.page}-byte page")
        if not (self.va_base <= va and va + nbytes <= self.va_end):
            raise TranslationError(
                f"{what}.va: [{va:#x}, {va + nbytes:#x}) is outside the VA space [{self.va_base:#x}, {self.va_end:#x})"
            )

    def _vpns(self, va: int, nbytes: int) -> range:
        return range(va // self.page, (va + nbytes + self.page - 1) // self.page)
