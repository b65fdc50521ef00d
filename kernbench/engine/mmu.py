"""A page table: device virtual pages to physical pages (each cube's M_CPU holds one for its PEs).

Besides whole pages it holds *sub-page mappings* (ADR 0010): byte ranges ``[va, va + nbytes)`` onto physical
``pa`` with no alignment, as the seeds' MMU entries ``{va: base + offset, pa, size}`` per shard. The runtime uses
them only where a tensor's blocks are smaller than a page and live in different memories (a small tensor split
over cubes, small TCM shards); they are asked for explicitly (``subpage=True``), so a plain mapping that is not
page aligned is still an error naming the page size.
"""

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
        self._sub_starts: list[int] = []  # sorted first virtual byte of each sub-page mapping
        self._subs: dict[int, tuple[int, PhysAddr]] = {}  # first byte -> (end byte, exclusive; its PA)

    def __len__(self) -> int:
        """Mapped pages (a page holding sub-page mappings counts once)."""
        pages = {
            p for start, (end, _) in self._subs.items() for p in range(start // self.page, (end - 1) // self.page + 1)
        }
        return sum(end - start for start, (end, _) in self._runs.items()) + len(pages)

    def check_map(self, va: int, pa: PhysAddr, nbytes: int, what: str = "MmuMapMsg", *, subpage: bool = False) -> None:
        """Raise TranslationError naming the field if the mapping cannot be installed."""
        self._check_range(va, nbytes, what, subpage)
        if pa.sip != self.sip:
            raise TranslationError(f"{what}.pa: {pa} is on sip{pa.sip}; a SIP maps its own memory only (sip{self.sip})")
        if pa.offset % self.page and not subpage:
            raise TranslationError(
                f"{what}.pa: {pa} is not aligned to the {self.page}-byte page (a sub-page mapping says subpage=True)"
            )
        try:
            check_addr(pa, self.topo, nbytes)
        except ValueError as exc:
            raise TranslationError(f"{what}.pa: {exc}") from None
        lo, hi = (va, va + nbytes) if subpage else (va, self._pages(va, nbytes)[1] * self.page)
        hit = self._overlaps_bytes(lo, hi)
        if hit is not None:
            raise TranslationError(f"{what}.va: {hit:#x} is already mapped in sip{self.sip}")

    def check_unmap(self, va: int, nbytes: int, what: str = "MmuUnmapMsg", *, subpage: bool = False) -> None:
        if subpage:
            if self._subs.get(va, (None,))[0] != va + nbytes:
                raise TranslationError(
                    f"{what}.va: [{va:#x}, {va + nbytes:#x}) is not a sub-page mapping of sip{self.sip}"
                )
            return
        self._check_range(va, nbytes, what)
        first, end = self._pages(va, nbytes)
        page = first
        while page < end:
            page = self._runs[self._mapped_run(page, what)][0]

    def map(self, va: int, pa: PhysAddr, nbytes: int, *, subpage: bool = False) -> None:
        self.check_map(va, pa, nbytes, subpage=subpage)
        if subpage:
            insort(self._sub_starts, va)
            self._subs[va] = (va + nbytes, pa)
            return
        first, end = self._pages(va, nbytes)
        insort(self._starts, first)
        self._runs[first] = (end, pa)

    def unmap(self, va: int, nbytes: int, *, subpage: bool = False) -> None:
        self.check_unmap(va, nbytes, subpage=subpage)
        if subpage:
            del self._subs[va]
            self._sub_starts.remove(va)
            return
        first, end = self._pages(va, nbytes)
        page = first
        while page < end:
            start = self._mapped_run(page, "MmuUnmapMsg")
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
        return self.lookup(va)[0]

    def lookup(self, va: int) -> tuple[PhysAddr, int]:
        """The physical address of ``va`` and the virtual address where that translation stops being linear (the
        next page boundary, or the end of a sub-page mapping)."""
        start = self._run_of(va // self.page)
        if start is not None:
            return self._runs[start][1].offset_by(va - start * self.page), (va // self.page + 1) * self.page
        if self._subs:
            i = bisect_right(self._sub_starts, va) - 1
            if i >= 0:
                first = self._sub_starts[i]
                end, pa = self._subs[first]
                if va < end:
                    return pa.offset_by(va - first), end
        raise TranslationError(f"sip{self.sip}: virtual address {va:#x} is not mapped")

    def _run_of(self, page: int) -> int | None:
        """First page of the run holding ``page``, or None."""
        i = bisect_right(self._starts, page) - 1
        if i >= 0 and page < self._runs[self._starts[i]][0]:
            return self._starts[i]
        return None

    def _mapped_run(self, page: int, what: str) -> int:
        """First page of the run holding ``page``; an error naming ``what`` if it is not mapped."""
        run = self._run_of(page)
        if run is None:
            raise TranslationError(f"{what}.va: {page * self.page:#x} is not mapped in sip{self.sip}")
        return run

    def _overlaps(self, first: int, end: int) -> int | None:
        """First page of a run overlapping ``[first, end)``, or None."""
        i = max(bisect_right(self._starts, first) - 1, 0)
        for start in self._starts[i:]:
            if start >= end:
                break
            if self._runs[start][0] > first:
                return start
        return None

    def _overlaps_bytes(self, lo: int, hi: int) -> int | None:
        """The first mapped byte in ``[lo, hi)`` (pages or sub-page mappings), or None."""
        hits = []
        run = self._overlaps(lo // self.page, (hi + self.page - 1) // self.page)
        if run is not None:
            hits.append(max(run * self.page, lo))
        i = max(bisect_right(self._sub_starts, lo) - 1, 0)
        for start in self._sub_starts[i:]:
            if start >= hi:
                break
            if self._subs[start][0] > lo:
                hits.append(max(start, lo))
                break
        return min(hits) if hits else None

    def _pages(self, va: int, nbytes: int) -> tuple[int, int]:
        return va // self.page, (va + nbytes + self.page - 1) // self.page

    def _check_range(self, va: int, nbytes: int, what: str, subpage: bool = False) -> None:
        if va % self.page and not subpage:
            raise TranslationError(
                f"{what}.va: {va:#x} is not aligned to the {self.page}-byte page (a sub-page mapping says subpage=True)"
            )
        if not (self.va_base <= va and va + nbytes <= self.va_end):
            raise TranslationError(
                f"{what}.va: [{va:#x}, {va + nbytes:#x}) is outside the VA space [{self.va_base:#x}, {self.va_end:#x})"
            )
