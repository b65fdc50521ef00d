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
from collections.abc import Callable
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

    __slots__ = ("arrivals", "intervals", "link", "peak_queue", "pending", "wait_ns")

    def __init__(self, link: Link) -> None:
        self.link = link
        self.pending: deque[float] = deque()  # start times of transfers reserved but not yet served, in order
        self.peak_queue = 0
        self.wait_ns = 0.0
        self.intervals: list[tuple[float, float, int]] = []  # (start, end, bytes) when intervals are kept
        self.arrivals: list[float] = []  # each interval's head arrival, when intervals are kept for a window


class LinkProbe:
    """Per-link peak queue and waiting time, optional busy intervals, and HBM bytes read and written per slice."""

    def __init__(self, *, intervals: bool, clock: Callable[[], float] | None = None) -> None:
        """``clock``: the environment's time, given when statistics will be cut to a window of time
        (`window_links`, `window_hbm`): every reservation and HBM access is then kept with its time."""
        self.keep_intervals = intervals or clock is not None
        self._clock = clock
        self._links: dict[Link, _LinkRecord] = {}  # in first-use order
        self._hbm: dict[str, list[int]] = {}  # slice link name -> [bytes read, bytes written]
        self._hbm_timed: list[tuple[float, str, int, int]] = []  # (time, slice, column, bytes) with a clock

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
            if self._clock is not None:
                record.arrivals.append(arrive)

    def hbm_access(self, fanout: Fanout, *, write: bool) -> None:
        """An access of one HBM controller's slices: each branch's bytes are read from or written to its slice."""
        column = 1 if write else 0
        for link, nbytes in fanout.branches:
            counts = self._hbm.get(link.name)
            if counts is None:
                counts = self._hbm[link.name] = [0, 0]
            counts[column] += nbytes
            if self._clock is not None:
                self._hbm_timed.append((self._clock(), link.name, column, nbytes))

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

    def window_links(self, t0: float, t1: float) -> list[dict]:
        """`links` cut to the window ``[t0, t1]`` (needs a ``clock``): the transfers whose head arrived in it (bytes,
        count, waiting, peak queue among them) and every transfer's busy time inside it."""
        out = []
        for r in sorted(self._links.values(), key=lambda r: r.link.name):
            busy = sum(max(0.0, min(end, t1) - max(start, t0)) for start, end, _ in r.intervals)
            inside = [(a, iv) for a, iv in zip(r.arrivals, r.intervals, strict=True) if t0 <= a <= t1]
            if not inside and busy == 0:
                continue
            pending: deque[float] = deque()
            wait, peak = 0.0, 0
            for arrive, (start, _, _) in inside:  # the queue as `reserved` saw it, for these transfers only
                while pending and pending[0] <= arrive:
                    pending.popleft()
                if start > arrive:
                    pending.append(start)
                    wait += start - arrive
                    peak = max(peak, len(pending))
            out.append(
                {
                    "link": r.link.name,
                    "bytes": sum(iv[2] for _, iv in inside),
                    "transfers": len(inside),
                    "busy_ns": busy,
                    "wait_ns": wait,
                    "peak_queue": peak,
                }
            )
        return out

    def window_hbm(self, t0: float, t1: float) -> list[dict]:
        """`hbm` cut to the window ``[t0, t1]`` (needs a ``clock``): the accesses made in it."""
        counts: dict[str, list[int]] = {}
        for t, name, column, nbytes in self._hbm_timed:
            if t0 <= t <= t1:
                counts.setdefault(name, [0, 0])[column] += nbytes
        return [{"slice": name, "read_bytes": r, "written_bytes": w} for name, (r, w) in sorted(counts.items())]
