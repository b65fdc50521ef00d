"""How batches, reductions and gathers move between ranks.

The synchronizer only talks to a :class:`Transport`. :class:`LocalWorld`
runs any number of *virtual* ranks in one process (each a greenlet), so
partitioning can be tested without MPI; one virtual rank is the
single-process fallback. ``pdes.mpi.MpiTransport`` is the real thing.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol

import numpy as np
from greenlet import getcurrent, greenlet

__all__ = ["LocalWorld", "Transport", "launched_by_mpi"]

# Set by mpirun/mpiexec (MPICH hydra, Open MPI) and by srun with PMI; checked without importing mpi4py,
# so a plain single-process run never initialises MPI.
LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")

# How a launched process reaches its launcher: PMI's socket (hydra, srun --mpi=pmi2) or port, PMIx's server
# (Open MPI, srun --mpi=pmix). A shell that kept PMI_RANK from an earlier job has none of them.
_PMIX_VARS = ("PMIX_NAMESPACE", "PMIX_SERVER_URI2", "PMIX_SERVER_URI3", "PMIX_SERVER_URI4", "PMIX_SERVER_URI41")


def launched_by_mpi() -> bool:
    """True when an MPI launcher (mpirun, mpiexec, srun --mpi) started this process: it announced a rank and the
    way to reach it. Launcher variables left in the environment of a plain run do not count (they would silence
    its errors, printed by rank 0 only, and make it wait for an MPI job that does not exist)."""
    return any(var in os.environ for var in LAUNCHER_VARS) and _launcher_present()


def _launcher_present() -> bool:
    fd = os.environ.get("PMI_FD", "")
    if fd.isdigit():
        try:
            return stat.S_ISSOCK(os.fstat(int(fd)).st_mode)
        except OSError:
            return False
    return "PMI_PORT" in os.environ or any(var in os.environ for var in _PMIX_VARS)


def launcher_rank() -> int:
    """This process's rank as the MPI launcher announced it (0 when there is none), without initialising MPI.

    For messages that must appear once per job, such as a bad command line found before MPI starts.
    """
    if not launched_by_mpi():
        return 0
    for var in ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK"):
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 0


def launcher_size() -> int:
    """The number of processes of the job as the MPI launcher announced it (1 when there is none)."""
    if launched_by_mpi():
        for var in ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE"):
            value = os.environ.get(var, "")
            if value.isdigit():
                return int(value)
    return 1


class Transport(Protocol):
    """What the rank engine needs from the layer below it."""

    rank: int
    size: int

    def exchange(self, outgoing: dict[int, bytes], sources: list[int]) -> Mapping[int, bytes | bytearray]:
        """Send one batch to each key of ``outgoing``; receive one from each of ``sources`` (to decode only)."""

    def reduce_start(self, mins: np.ndarray, sums: np.ndarray) -> Any:
        """Start a global (element-wise min, element-wise sum) reduction."""

    def reduce_finish(self, handle: Any) -> tuple[np.ndarray, np.ndarray]:
        """Wait for a reduction started by :meth:`reduce_start`."""

    def allgather(self, data: bytes) -> list[bytes]:
        """Every rank's ``data``, in rank order, on every rank."""

    def gather(self, data: bytes) -> list[bytes] | None:
        """Every rank's ``data``, in rank order, on rank 0 (None on the others): for results only rank 0 writes."""


class LocalWorld:
    """Virtual ranks in one process, scheduled cooperatively on greenlets."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.mail: dict[tuple[int, int], deque[bytes]] = {}
        self.reductions: dict[int, _Slot] = {}
        self.gathers: dict[int, _Slot] = {}
        self.version = 0  # bumped by every contribution, to detect a stuck hub
        self._hub: greenlet | None = None

    def transport(self, rank: int) -> LocalTransport:
        return LocalTransport(self, rank)

    def wait_until(self, ready: Callable[[], bool]) -> None:
        """Let the other virtual ranks run until ``ready()`` holds."""
        while not ready():
            if self._hub is None:
                raise RuntimeError("virtual rank waits for a peer, but no other rank is running")
            self._hub.switch()

    def run(self, bodies: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """Run one body per virtual rank to completion; return ``(ok, value or exception)``."""
        if self.size == 1:
            try:
                return [(True, bodies[0]())]
            except Exception as exc:
                return [(False, exc)]
        outcomes: list[tuple[bool, Any] | None] = [None] * self.size

        def wrap(rank: int, body: Callable[[], Any]) -> Callable[[], None]:
            def main() -> None:
                try:
                    outcomes[rank] = (True, body())
                except Exception as exc:
                    outcomes[rank] = (False, exc)
                self.version += 1

            return main

        glets = [greenlet(wrap(r, b)) for r, b in enumerate(bodies)]
        self._hub = getcurrent()
        try:
            while any(not g.dead for g in glets):
                before = self.version
                for g in glets:
                    if not g.dead:
                        g.switch()
                if self.version == before and any(not g.dead for g in glets):
                    # The live ranks wait for one that has died: surface why it died.
                    for outcome in outcomes:
                        if outcome is not None and not outcome[0]:
                            raise outcome[1]
                    raise RuntimeError("virtual ranks are all waiting for each other (engine bug)")
        finally:
            self._hub = None
        return outcomes  # type: ignore[return-value]


class LocalTransport:
    """One virtual rank's endpoint in a :class:`LocalWorld`."""

    def __init__(self, world: LocalWorld, rank: int) -> None:
        self.world = world
        self.rank = rank
        self.size = world.size
        self._reductions = 0
        self._gathers = 0

    def exchange(self, outgoing: dict[int, bytes], sources: list[int]) -> dict[int, bytes]:
        mail = self.world.mail
        for dst, data in outgoing.items():
            mail.setdefault((self.rank, dst), deque()).append(bytes(data))
        if outgoing:
            self.world.version += 1
        incoming = {}
        for src in sources:
            box = mail.setdefault((src, self.rank), deque())
            self.world.wait_until(partial(bool, box))
            incoming[src] = box.popleft()
        return incoming

    def reduce_start(self, mins: np.ndarray, sums: np.ndarray) -> int:
        key = self._reductions
        self._reductions += 1
        slot = self.world.reductions.setdefault(key, _Slot(self.size))
        slot.put(self.rank, (mins.copy(), sums.copy()))
        self.world.version += 1
        return key

    def reduce_finish(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        slot = self.world.reductions[key]
        if slot.result is None:  # once for all ranks: per rank it would cost O(ranks) each, O(ranks^2) a round
            self.world.wait_until(lambda: slot.filled == self.size)
            slot.result = np.minimum.reduce([m for m, _ in slot.parts]), np.add.reduce([s for _, s in slot.parts])
        self._collect(self.world.reductions, key)
        return slot.result

    def allgather(self, data: bytes) -> list[bytes]:
        key = self._gathers
        self._gathers += 1
        self.world.gathers.setdefault(key, _Slot(self.size)).put(self.rank, bytes(data))
        self.world.version += 1
        return self._collect(self.world.gathers, key)

    def gather(self, data: bytes) -> list[bytes] | None:
        key = self._gathers
        self._gathers += 1
        slot = self.world.gathers.setdefault(key, _Slot(self.size))
        slot.put(self.rank, bytes(data))
        self.world.version += 1
        if self.rank != 0:
            return None
        self.world.wait_until(lambda: slot.filled == self.size)
        del self.world.gathers[key]
        return slot.parts

    def _collect(self, slots: dict, key: int) -> list:
        """Wait until every rank contributed to ``slots[key]``; the last reader frees it."""
        slot = slots[key]
        self.world.wait_until(lambda: slot.filled == self.size)
        slot.readers += 1
        if slot.readers == self.size:
            del slots[key]
        return slot.parts


class _Slot:
    """One collective operation's contributions, in rank order."""

    def __init__(self, size: int) -> None:
        self.parts: list = [None] * size
        self.filled = 0
        self.readers = 0
        self.result: Any = None  # a reduction's outcome, made by its first reader

    def put(self, rank: int, value: Any) -> None:
        self.parts[rank] = value
        self.filled += 1
