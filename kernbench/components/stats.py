"""What the links of one SIP did, recorded only when asked for (``--hw-stats``, link tracks of ``--trace``).

A `LinkProbe` is attached to a SimPy environment before its links are built (`attach`); every `Link` built in
that environment keeps it (`probe_of`) and reports each reservation to it, and the SIP's fabric reports which HBM
accesses read and which write. Without a probe a link pays one ``is None`` test per reservation and nothing
else: the model's hot path stays as it was when nothing is recorded.

Bytes, transfers and busy time are counted by the `Link` itself; the probe adds what needs the history of the
link: the peak queue (the most transfers waiting for it at once), the time transfers spent waiting, and, for
traces, the busy intervals.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from kernbench.components.link import Fanout, Link

_PROBE_ATTR = "_kernbench_link_probe"
"""Where `attach` keeps an environment's probe: on the environment itself, so it lives as long as the links do
and a link finds it with one attribute lookup (lazily built links ask during the run)."""


def attach(env: simpy.Environment, probe: LinkProbe) -> None:
    """Let every link built in ``env`` from now on report to ``probe``."""
    setattr(env, _PROBE_ATTR, probe)


def probe_of(env: simpy.Environment) -> LinkProbe | None:
    """The probe links built in ``env`` report to, or None (nothing is recorded)."""
    return getattr(env, _PROBE_ATTR, None)


class _LinkRecord:
    """The history a probe keeps of one link."""

    __slots__ = ("intervals", "link", "peak_queue", "pending", "wait_ns")

    def __init__(self, link: Link) -> None:
        self.link = link
        self.pending: deque[float] = deque()  # start times of transfers reserved but not yet served, in order
        self.peak_queue = 0
        self.wait_ns = 0.0
        self.intervals: list[tuple[float, float, int]] = []  # (start, end, bytes) when intervals are kept


class LinkProbe:
    """Per-link peak queue and waiting time, optional busy intervals, and HBM bytes read and written per slice."""

    def __init__(self, *, intervals: bool) -> None:
        self.keep_intervals = intervals
        self._links: dict[Link, _LinkRecord] = {}  # in first-use order
        self._hbm: dict[str, list[int]] = {}  # slice link name -> [bytes read, bytes written]

    def reserved(self, link: Link, arrive: float, start: float, busy: float, nbytes: int) -> None:
        """``link`` serves a head that arrived at ``arrive`` from ``start`` for ``busy`` ns.

        Reservations of one link come in arrival order and their starts never decrease (FIFO), so the transfers
        waiting at ``arrive`` are those reserved earlier whose start is still later.
        """
        record = self._links.get(link)
        if record is None:
            record = self._links[link] = _LinkRecord(link)
        pending = record.pending
        while pending and pending[0] <= arrive:
            pending.popleft()
        if start > arrive:
            pending.append(start)
            record.wait_ns += start - arrive
            if len(pending) > record.peak_queue:
                record.peak_queue = len(pending)
        if self.keep_intervals:
            record.intervals.append((start, start + busy, nbytes))

    def hbm_access(self, fanout: Fanout, *, write: bool) -> None:
        """An access of one HBM controller's slices: each branch's bytes are read from or written to its slice."""
        column = 1 if write else 0
        for link, nbytes in fanout.branches:
            counts = self._hbm.get(link.name)
            if counts is None:
                counts = self._hbm[link.name] = [0, 0]
            counts[column] += nbytes

    def links(self) -> list[dict]:
        """Every link used so far, by name: bytes, transfers, busy and waiting ns, peak queue (plain data)."""
        return [
            {
                "link": r.link.name,
                "bytes": r.link.bytes_carried,
                "transfers": r.link.transfers,
                "busy_ns": r.link.busy_ns,
                "wait_ns": r.wait_ns,
                "peak_queue": r.peak_queue,
            }
            for r in sorted(self._links.values(), key=lambda r: r.link.name)
        ]

    def intervals(self) -> dict[str, list[tuple[float, float, int]]]:
        """Busy intervals ``(start, end, bytes)`` of each link used, by name (empty lists unless kept)."""
        return {r.link.name: r.intervals for r in sorted(self._links.values(), key=lambda r: r.link.name)}

    def hbm(self) -> list[dict]:
        """Bytes read from and written to each HBM slice used, by slice link name."""
        return [{"slice": name, "read_bytes": r, "written_bytes": w} for name, (r, w) in sorted(self._hbm.items())]
