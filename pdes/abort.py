"""Ending a whole MPI job when one rank raises (docs/adr/0007-failures-under-mpi.md).

Without this, a rank that dies leaves the others blocked in MPI forever: ``mpirun`` only ends the job when a
process dies of a signal or leaves without ``MPI_Finalize`` (which mpi4py calls at exit). So under an MPI launcher
``import pdes`` installs :func:`install` as ``sys.excepthook`` (opt out: ``PDES_NO_ABORT_HOOK=1``):

- the rank whose own code failed first tells every other rank that it is reporting (a zero-byte message, tag
  `REPORTING_TAG` on ``COMM_WORLD``), then prints the traceback, names itself, waits until its output has left the
  process (hydra drops output still in the pipe when a job is aborted) and ends the job: ``MPI_Abort`` when MPI is
  up, else by killing itself, the one way to end a job whose other ranks may wait in ``MPI_Init`` for this one;
- a rank that only learnt of another rank's failure (an error naming another rank in ``reported_by``, such as
  `RemoteError`) prints nothing and waits for that rank to end the job. Once the reporting rank has said it is
  reporting, this rank waits for it however long its printing takes, so the traceback always comes out before
  the abort; only if that message has not come after ``WAIT_S`` (the failing rank is stuck before its hook) does
  this rank print one line and end the job itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import sys
import termios
import time
import traceback
from types import TracebackType
from typing import Any, NoReturn

from .transport import launched_by_mpi, launcher_rank

__all__ = ["OPT_OUT_VAR", "REPORTING_TAG", "WAIT_S", "drain_output", "install", "leave", "reporting_rank"]

OPT_OUT_VAR = "PDES_NO_ABORT_HOOK"
"""Set to 1 to keep Python's own ``sys.excepthook`` under an MPI launcher."""

WAIT_S = 5.0
"""How long a rank that only heard of a failure waits for the failing rank to say it is reporting it."""

REPORTING_TAG = 0x5DE5
"""Tag of the failing rank's "I am reporting" message on ``COMM_WORLD`` (pdes's own traffic uses a duplicate)."""

_EXIT = os._exit
"""``os._exit`` as it was at import (a program may wrap the one its code calls)."""

DRAIN_S = 30.0
"""A bound on waiting for the launcher to read what this rank printed, for a launcher that stopped reading; the
wait ends as soon as the pipes are empty (milliseconds), so the bound is generous rather than a grace period."""


def install() -> None:
    """Under an MPI launcher with more than one process, end the whole job on an uncaught exception (idempotent).

    A no-op without a launcher or with ``PDES_NO_ABORT_HOOK=1``. ``import pdes`` calls it; so do the CLIs.
    """
    if os.environ.get(OPT_OUT_VAR, "") not in ("", "0") or not launched_by_mpi() or _world()[1] <= 1:
        return
    sys.excepthook = _hook


def reporting_rank(exc: BaseException) -> int | None:
    """The rank that reports ``exc`` (``reported_by`` of it or of an exception it was raised from), if any."""
    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        rank = getattr(chain, "reported_by", None)
        if isinstance(rank, int):
            return rank
        chain = chain.__cause__ or chain.__context__
    return None


def _hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    from .memory import check  # here: pdes.memory imports this module

    check(exc)  # out of memory: that rank ends the job at once, in one line (pdes.memory)
    rank = _world()[0]
    reporter = reporting_rank(exc)
    if reporter is not None and reporter != rank:
        _flush()
        if _heard_from(reporter, time.monotonic() + WAIT_S):
            while True:  # it prints the cause and ends the job (abort, or its own death), which ends this process
                time.sleep(1.0)
        headline = traceback.format_exception_only(exc_type, exc)[-1].strip()
        _write(
            f"[rank {rank}] rank {reporter} failed and has not ended the job after {WAIT_S:g} s; "
            f"ending it from here ({headline})\n"
        )
    else:
        _announce(rank)
        report = "".join(traceback.format_exception(exc_type, exc, tb))
        _write(f"[rank {rank}] uncaught exception, ending the MPI job:\n{report}")
    _end_job()


def _mpi_world() -> Any:
    """``COMM_WORLD`` when MPI is up in this process, else None."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        return mpi.COMM_WORLD
    return None


_ANNOUNCEMENTS: list[Any] = []
"""The announcement's send requests, kept alive until the abort ends the process."""


def _announce(rank: int) -> None:
    """Tell every other rank that this one is reporting its failure (zero-byte sends, left in flight)."""
    comm = _mpi_world()
    if comm is None:
        return
    for other in range(comm.Get_size()):
        if other != rank:
            with contextlib.suppress(Exception):  # reporting must go on whatever MPI says
                _ANNOUNCEMENTS.append(comm.Isend([b"", sys.modules["mpi4py.MPI"].BYTE], dest=other, tag=REPORTING_TAG))


def _heard_from(reporter: int, deadline: float) -> bool:
    """Whether rank ``reporter`` said it is reporting before ``deadline`` (without MPI this rank cannot hear it:
    False at the deadline)."""
    comm = _mpi_world()
    if comm is None:
        time.sleep(max(0.0, deadline - time.monotonic()))
        return False
    while time.monotonic() < deadline:
        if comm.Iprobe(source=reporter, tag=REPORTING_TAG):
            return True
        time.sleep(0.005)
    return False


def _world() -> tuple[int, int]:
    """(rank, size) of the job: from MPI once it is up, else from the launcher's environment."""
    comm = _mpi_world()
    if comm is not None:
        return comm.Get_rank(), comm.Get_size()
    size = next((os.environ[v] for v in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE") if v in os.environ), "1")
    return launcher_rank(), int(size) if size.isdigit() else 1


def _write(text: str) -> None:
    sys.stderr.write(text)
    _flush()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def drain_output(deadline: float | None = None) -> None:
    """Wait until the launcher has read what this process wrote to its stdout and stderr pipes (at most until
    ``deadline``, `time.monotonic` seconds; default `DRAIN_S` from now)."""
    deadline = time.monotonic() + DRAIN_S if deadline is None else deadline
    buf = bytearray(4)
    for fd in (1, 2):
        try:
            while time.monotonic() < deadline:
                fcntl.ioctl(fd, termios.FIONREAD, buf)  # bytes still in the pipe (ENOTTY/EINVAL: not a pipe)
                if struct.unpack("i", buf)[0] == 0:
                    break
                time.sleep(0.005)
        except OSError:
            continue


def leave(code: int) -> NoReturn:
    """End this process now with exit ``code``, without unwinding (no atexit handlers, no ``MPI_Finalize``).

    Under an MPI launcher the whole job ends with ``code``, once the launcher has read what this process printed:
    by ``MPI_Abort`` (MPICH adds its ``Abort(code) on node ...`` line). A process that leaves without it was measured
    to end the job with hydra's exit code 9, or to leave hydra's proxy failing an assertion and the job hanging, in
    3 of 120 jobs. Before MPI has started, by SIGKILL: the one way to end a job whose other ranks wait in
    ``MPI_Init``."""
    if launched_by_mpi():
        _flush()
        drain_output()
        comm = _mpi_world()
        if comm is None:
            os.kill(os.getpid(), signal.SIGKILL)
        comm.Abort(code)
    _EXIT(code)


def _end_job() -> None:
    _flush()
    drain_output()
    comm = _mpi_world()
    if comm is not None:
        comm.Abort(1)
    os.kill(os.getpid(), signal.SIGKILL)  # MPI is not up: the launcher ends the job when a process dies of a signal
