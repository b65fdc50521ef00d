"""How a ``kernbench`` process ends when it does not return from its command (docs/adr/0018): interrupted,
terminated, out of memory, or ended by the code it runs.

None of these unwinds the stack: Ctrl-C or SIGTERM can arrive in the middle of a SimPy callback or a kernel's
greenlet, and a process out of memory cannot afford to. Each removes the temporary output files being written,
says what it has to say in one line (nothing for a signal), and leaves at once with its own exit code
(`pdes.abort.leave`); under ``mpirun`` a process that leaves so ends the whole job with that code, so `setup`
starts MPI first (a process that left before would leave the others waiting in ``MPI_Init``).

`setup` is for the ``kernbench`` command only (`kernbench.cli.main.cli`), not for code that calls ``main`` in
a process of its own, such as the tests.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from types import FrameType
from typing import Any, NoReturn

from kernbench.cli import exit_codes
from kernbench.cli.output_files import release_fifos, remove_temporaries
from kernbench.runtime.worker_errors import user_frame_in
from pdes import memory
from pdes.abort import leave
from pdes.transport import launched_by_mpi, launcher_rank

_PID = os.getpid()
"""This process (a forked child has another id)."""

_EXIT = os._exit
"""``os._exit`` itself, for a forked child (`setup` wraps the one the code in this process calls)."""

_failure_record: dict[str, Any] = {}
"""The JSON record to print, with its ``error``, when the run ends out of memory or early (`print_on_failure`)."""


def setup() -> None:
    """Make this process end as described above; stdout and stderr escape what their encoding cannot say."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # a non-UTF-8 terminal (LC_ALL=C): an error message is never lost to it
            reconfigure(errors="backslashreplace")
    if launched_by_mpi():
        import pdes.mpi  # noqa: F401 (starts MPI)
    memory.guard("kernbench")
    memory.on_out_of_memory(_out_of_memory)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    os._exit = _unreported_exit


def print_on_failure(record: dict[str, Any] | None) -> None:
    """The ``--json`` record (without ``error``) that a run ending early still prints, with its reason; None:
    nothing (no ``--json``, or the report is printed)."""
    _failure_record.clear()
    _failure_record.update(record or {})


def _out_of_memory(line: str) -> None:
    remove_temporaries()
    release_fifos()
    _print_failure(line)


def _print_failure(line: str) -> None:
    if _failure_record:
        text = json.dumps({**_failure_record, "error": line}) + "\n"
        os.write(1, text.encode())


def _stop(signum: int, _frame: FrameType | None) -> NoReturn:
    """SIGINT, SIGTERM: leave quietly (the shell, or mpirun, says what ended the command)."""
    remove_temporaries()
    release_fifos()
    leave(exit_codes.INTERRUPTED if signum == signal.SIGINT else exit_codes.TERMINATED)


def _unreported_exit(status: int) -> NoReturn:
    """``os._exit`` called by code this process runs (a bench, host code): it ends the process before its report,
    so under mpirun the job (a process leaving with status 0 would end it with 0, and no output). Say so and fail.
    A forked child's ``os._exit`` is its own business."""
    if os.getpid() == _PID:
        where = user_frame_in("".join(traceback.format_stack()))
        who = f"rank {launcher_rank()}: " if launched_by_mpi() else ""
        line = (
            f"{who}os._exit({status}) ended the process before the run's report"
            + (f" (at {where})" if where else "")
            + "; the run fails"
        )
        remove_temporaries()
        release_fifos()
        _print_failure(line)
        sys.stderr.write(f"kernbench: {line}\n")
        leave(status or exit_codes.FAIL)
    _EXIT(status)
