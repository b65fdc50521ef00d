"""Byte-addressable memories holding real data (HBM, SRAM, TCM, M_CPU and IO_CPU memory).

Operations compute their results on these bytes when they complete in simulated time, so timing and data come
from one pass. A memory is sparse: it is a dict of numpy pages created on the first write that touches them, so
a 48 GiB HBM costs only what has been written; bytes never written read as zero. Writing zeros over a whole page
(`Memory.fill` with 0) gives the page back.

Pages are 4 KiB, the MMU's page size: a model with thousands of PEs touches a few slots of each receive ring and a
few staging buffers per TCM, and with larger pages those scattered writes held most of a SIP's memory. A write
that covers whole pages stores them with one copy, so big transfers do not pay per page for zero-filling.
"""

from __future__ import annotations

import operator

import numpy as np

PAGE_BYTES = 1 << 12


class Memory:
    """``size_bytes`` bytes of storage named ``name`` (the name appears in every error)."""

    def __init__(self, name: str, size_bytes: int, page_bytes: int = PAGE_BYTES) -> None:
        size_bytes, page_bytes = operator.index(size_bytes), operator.index(page_bytes)
        if size_bytes < 0:
            raise ValueError(f"Memory {name}: size_bytes must be >= 0, got {size_bytes}")
        if page_bytes < 1:
            raise ValueError(f"Memory {name}: page_bytes must be >= 1, got {page_bytes}")
        self.name = name
        self.size = size_bytes
        self.page_bytes = page_bytes
        self._pages: dict[int, np.ndarray] = {}

    @property
    def allocated_bytes(self) -> int:
        """Bytes of backing storage actually held (pages written so far)."""
        return sum(page.nbytes for page in self._pages.values())

    def write(self, offset: int, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        """Store ``data`` at ``offset``; an array is stored as its raw bytes in C order (any dtype)."""
        raw = _as_bytes(data)
        n = raw.size
        offset = self._check(offset, n)
        if n == 0:
            return
        size = self.page_bytes
        page, lo = divmod(offset, size)
        if lo + n < size:  # inside one page, not all of it: most writes (queue slots, small tiles)
            self._page(page)[lo : lo + n] = raw
            return
        pos = 0
        if lo:  # the end of a first page
            pos = size - lo
            self._page(page)[lo:] = raw[:pos]
            page += 1
        whole = (n - pos) // size  # pages covered entirely: one copy for all of them
        if whole:
            block = raw[pos : pos + whole * size].reshape(whole, size).copy()
            pages = self._pages
            for row in range(whole):
                pages[page + row] = block[row]
            pos += whole * size
        if pos < n:  # the start of a last page (or all of a short last page of the memory)
            self._page(page + whole)[: n - pos] = raw[pos:]

    def read(self, offset: int, nbytes: int) -> np.ndarray:
        """A fresh uint8 array with the ``nbytes`` bytes at ``offset`` (a copy: changing it changes nothing here)."""
        offset = self._check(offset, nbytes)
        size = self.page_bytes
        first, lo = divmod(offset, size)
        if lo + nbytes <= size:  # inside one page: most reads
            stored = self._pages.get(first)
            return np.zeros(nbytes, dtype=np.uint8) if stored is None else stored[lo : lo + nbytes].copy()
        stored_pages = [self._pages.get(page) for page in range(first, (offset + nbytes - 1) // size + 1)]
        held = [stored for stored in stored_pages if stored is not None]
        if len(held) == len(stored_pages):  # every page written: one copy
            return np.concatenate(held)[lo : lo + nbytes]
        out = np.zeros(nbytes, dtype=np.uint8)
        for page, lo, hi, pos in self._spans(offset, nbytes):
            stored = self._pages.get(page)
            if stored is not None:
                out[pos : pos + hi - lo] = stored[lo:hi]
        return out

    def fill(self, offset: int, nbytes: int, byte: int) -> None:
        """Set ``nbytes`` bytes at ``offset`` to ``byte`` (0..255)."""
        offset = self._check(offset, nbytes)
        byte = operator.index(byte)
        if not 0 <= byte <= 255:
            raise ValueError(f"Memory {self.name}: fill byte must be 0..255, got {byte}")
        for page, lo, hi, _ in self._spans(offset, nbytes):
            if byte == 0:
                stored = self._pages.get(page)
                if stored is None:
                    continue  # never written: already zero
                if lo == 0 and hi == stored.size:
                    del self._pages[page]  # a page of zeros is the same as no page
                    continue
                stored[lo:hi] = 0
            else:
                self._page(page)[lo:hi] = byte

    # -- internals

    def _check(self, offset: int, nbytes: int) -> int:
        offset, nbytes = operator.index(offset), operator.index(nbytes)
        if nbytes < 0 or offset < 0 or offset + nbytes > self.size:
            raise ValueError(
                f"Memory {self.name}: access of {nbytes} bytes at offset {offset:#x} is outside its "
                f"size of {self.size:#x} bytes"
            )
        return offset

    def _spans(self, offset: int, nbytes: int):
        """(page index, start in page, end in page, position in the caller's buffer) for each page touched."""
        pos, end = 0, offset + nbytes
        while offset < end:
            page, lo = divmod(offset, self.page_bytes)
            hi = min(self.page_bytes, lo + end - offset)
            yield page, lo, hi, pos
            pos += hi - lo
            offset += hi - lo

    def _page(self, page: int) -> np.ndarray:
        stored = self._pages.get(page)
        if stored is None:
            base = page * self.page_bytes
            stored = self._pages[page] = np.zeros(min(self.page_bytes, self.size - base), dtype=np.uint8)
        return stored

    def __repr__(self) -> str:
        return f"Memory({self.name!r}, {self.size:#x} bytes, {len(self._pages)} pages held)"


def _as_bytes(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(data, dtype=np.uint8)
    raise TypeError(f"Memory.write: expected bytes or a numpy array, got {type(data).__name__}")
