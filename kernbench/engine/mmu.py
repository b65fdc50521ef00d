"""A page table: device virtual pages to physical pages (each cube's M_CPU holds one for its PEs)."""

from __future__ import annotations

from bisect import bisect_right, insort

from kernbench.topology import PhysAddr, Topology, check_addr


class TranslationError(ValueError):
    """A virtual address with no mapping (or a bad map / unmap request)."""


class PageTable:
    """Page-granular VA -> PA translations inside ``[va_base, va_base + va_size)`` of the topology's ``pe_mmu``.

    Stored as runs of consecutive pages (start page -> end page, physical address of the start), so mapping a
    large tensor costs one entry, not one per page; semantics stay page by page.
    """

    def __init__(self, topo: Topology, sip: int) -> None:
        mmu = topo.pe.pe_mmu
        self.topo = topo
        self.sip = sip
        self.page = mmu.page_bytes
        self.va_base, self.va_end = mmu.va_base, mmu.va_end
        self._starts: list[int] = []  # sorted first virtual page of each run
        self._runs: dict[int, tuple[int, PhysAddr]] = {}  # first page -> (end page, exclusive; PA of first page)

    def __len__(self) -> int:
        """Mapped pages."""
        return sum(end - start for start, (end, _) in self._runs.items())

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
        first, end = self._pages(va, nbytes)
        hit = self._overlaps(first, end)
        if hit is not None:
            raise TranslationError(f"{what}.va: {max(hit, first) * self.page:#x} is already mapped in sip{self.sip}")

    def check_unmap(self, va: int, nbytes: int, what: str = "MmuUnmapMsg") -> None:
        self._check_range(va, nbytes, what)
        first, end = self._pages(va, nbytes)
        page = first
        while page < end:
            run = self._run_of(page)
            if run is None:
                raise TranslationError(f"{what}.va: {page * self.page:#x} is not mapped in sip{self.sip}")
            page = self._runs[run][0]

    def map(self, va: int, pa: PhysAddr, nbytes: int) -> None:
        self.check_map(va, pa, nbytes)
        first, end = self._pages(va, nbytes)
        insort(self._starts, first)
        self._runs[first] = (end, pa)

    def unmap(self, va: int, nbytes: int) -> None:
        self.check_unmap(va, nbytes)
        first, end = self._pages(va, nbytes)
        page = first
        while page < end:
            start = self._run_of(page)
            run_end, pa = self._runs.pop(start)
            self._starts.remove(start)
            if start < first:  # keep the part before the hole
                self._runs[start] = (first, pa)
                insort(self._starts, start)
            if run_end > end:  # and the part after it
                self._runs[end] = (run_end, pa.offset_by((end - start) * self.page))
                insort(self._starts, end)
            page = run_end

    def translate(self, va: int) -> PhysAddr:
        """The physical address of virtual address ``va``."""
        start = self._run_of(va // self.page)
        if start is None:
            raise TranslationError(f"sip{self.sip}: virtual address {va:#x} is not mapped")
        pa = self._runs[start][1]
        return pa.offset_by(va - start * self.page)

    def _run_of(self, page: int) -> int | None:
        """First page of the run holding ``page``, or None."""
        i = bisect_right(self._starts, page) - 1
        if i >= 0 and page < self._runs[self._starts[i]][0]:
            return self._starts[i]
        return None

    def _overlaps(self, first: int, end: int) -> int | None:
        """First page of a run overlapping ``[first, end)``, or None."""
        i = max(bisect_right(self._starts, first) - 1, 0)
        for start in self._starts[i:]:
            if start >= end:
                break
            if self._runs[start][0] > first:
                return start
        return None

    def _pages(self, va: int, nbytes: int) -> tuple[int, int]:
        return va // self.page, (va + nbytes + self.page - 1) // self.page

    def _check_range(self, va: int, nbytes: int, what: str) -> None:
        if va % self.page:
            raise TranslationError(f"{what}.va: {va:#x} is not aligned to the {self.page}-byte page")
        if not (self.va_base <= va and va + nbytes <= self.va_end):
            raise TranslationError(
                f"{what}.va: [{va:#x}, {va + nbytes:#x}) is outside the VA space [{self.va_base:#x}, {self.va_end:#x})"
            )
