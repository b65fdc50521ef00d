"""Running out of memory ends the process at once: one line, exit code `EXIT_CODE` (docs/adr/0018).

An interpreter that has run out of memory cannot be trusted to unwind: the next allocation fails too, in a
SimPy callback, a greenlet switch or the printing of the first error, and what follows is dozens of
``Exception ignored`` lines, a ``SystemError``, an abort in greenlet, or a process resumed and failed again in a
loop forever. So a program that calls `guard` (the CLIs) does not try:

- `guard` keeps a reserve of address space, and when the process has an address-space or data limit
  (``ulimit -v``, ``ulimit -d``) it looks, every `CHECK_S` of CPU time, at how much of it is used: within `MARGIN`
  of the limit the process ends before any allocation fails (the usual way a long run runs out: it grows);
- a `MemoryError` raised anyway (one allocation larger than what is left) is handed to `check` by every place
  that turns exceptions into reports (pdes's workers and sweeps, kernbench's kernels and benches), by the
  unraisable hook and by the excepthook.

`out_of_memory` frees the reserve, says what the process was doing (the innermost function on its stack that
has a `label`: which LP it simulated, which host code or kernel it ran), lets the program add its own record
(`on_out_of_memory`), and ends the process without unwinding (`pdes.abort.leave`): under ``mpirun`` that ends
the whole job with this process's exit code (docs/adr/0007). Without `guard` nothing here acts: a library user's
MemoryError is an ordinary exception.
"""

from __future__ import annotations

import atexit
import contextlib
import mmap
import os
import resource
import signal
import sys
from collections.abc import Callable
from types import CodeType, FrameType, TracebackType
from typing import Any, NoReturn

from .abort import leave
from .errors import message_of
from .transport import launched_by_mpi, launcher_rank

__all__ = ["EXIT_CODE", "MARGIN", "check", "guard", "label", "on_out_of_memory", "out_of_memory"]

EXIT_CODE = 3
"""The exit code of a process (and so of an mpirun job) that ran out of memory."""

MARGIN = 16 << 20
"""How close to an address-space or data limit a process may come before it ends (bytes)."""

RESERVE = 8 << 20
"""Address space held back from the start and freed to report (bytes)."""

CHECK_S = 0.02
"""CPU seconds between two looks at the limits."""

_LABELS: dict[CodeType, Callable[[dict[str, Any]], str]] = {}
_state: dict[str, Any] = {"prefix": None, "reserve": None, "report": None, "limits": [], "statm": None, "ending": False}


def label(fn: Callable[..., Any], describe: Callable[[dict[str, Any]], str]) -> None:
    """While ``fn`` runs, ``describe(its frame's locals)`` says what the process is doing (``simulating sip3 at
    t=1200``): the innermost labelled function on the stack names the work that ran out of memory."""
    _LABELS[fn.__code__] = describe


def on_out_of_memory(report: Callable[[str], None] | None) -> None:
    """Call ``report(line)`` before the process ends out of memory (e.g. to print a JSON record of the failure);
    ``line`` is what goes to stderr, without the program's prefix."""
    _state["report"] = report


def guard(prefix: str) -> None:
    """From now on, running out of memory ends this process as described above, its line starting ``prefix: ``.

    Idempotent. It holds `RESERVE`, and watches the limits when the process has any."""
    if _state["prefix"] is not None:
        return
    _state["prefix"] = prefix
    _state["reserve"] = mmap.mmap(-1, RESERVE)  # address space only: untouched pages cost no memory
    previous_unraisable, previous_except = sys.unraisablehook, sys.excepthook

    def unraisable(args: Any) -> None:
        check(args.exc_value)
        previous_unraisable(args)

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        check(exc)
        previous_except(kind, exc, tb)

    sys.unraisablehook, sys.excepthook = unraisable, excepthook
    _state["limits"] = _limits()
    if _state["limits"]:
        _state["statm"] = os.open("/proc/self/statm", os.O_RDONLY)
        signal.signal(signal.SIGVTALRM, _look)
        signal.siginterrupt(signal.SIGVTALRM, False)  # other threads' system calls restart, not fail with EINTR
        signal.setitimer(signal.ITIMER_VIRTUAL, CHECK_S, CHECK_S)
        atexit.register(signal.setitimer, signal.ITIMER_VIRTUAL, 0)  # no timer signal once Python has let go of it


def check(exc: BaseException | None) -> None:
    """End the process out of memory when ``exc`` is a `MemoryError` or was raised from one (after `guard`);
    otherwise return."""
    if _state["prefix"] is None:
        return
    seen: set[int] = set()
    chain = exc
    while chain is not None and id(chain) not in seen:
        if isinstance(chain, MemoryError):
            out_of_memory(exc=chain)
        seen.add(id(chain))
        chain = chain.__cause__ or chain.__context__


def out_of_memory(frame: FrameType | None = None, exc: BaseException | None = None, detail: str = "") -> NoReturn:
    """End this process now: one line on stderr, the program's report, `EXIT_CODE`. ``frame`` (or ``exc``'s
    traceback) is where it was; ``detail`` how the limit was reached."""
    if _state["ending"]:  # the report ran out of memory as well
        leave(EXIT_CODE)
    _state["ending"] = True
    reserve = _state["reserve"]
    _state["reserve"] = None
    if reserve is not None:
        reserve.close()
    signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    prefix = _state["prefix"] or "pdes"
    line = "out of memory"
    with contextlib.suppress(BaseException):  # whatever formatting raises, the process still ends with a line
        line = _line(frame, exc, detail)
    report = _state["report"]
    if report is not None:
        with contextlib.suppress(BaseException):  # the line below is what matters
            report(line)
    with contextlib.suppress(BaseException):  # a stdout that cannot take more is no reason not to end
        sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.write(2, f"{prefix}: {line}\n".encode(errors="backslashreplace"))
    leave(EXIT_CODE)


def _line(frame: FrameType | None, exc: BaseException | None, detail: str) -> str:
    if frame is None and exc is not None and exc.__traceback__ is not None:
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        frame = tb.tb_frame
    who = f"rank {launcher_rank()}: " if launched_by_mpi() else ""
    if exc is not None:
        detail = " ".join(message_of(exc).split()) or type(exc).__name__
    return f"{who}out of memory while {_doing(frame)}" + (f" ({detail})" if detail else "")


def _doing(frame: FrameType | None) -> str:
    """The innermost labelled function on ``frame``'s stack, described; else the innermost function."""
    innermost = frame
    while frame is not None:
        describe = _LABELS.get(frame.f_code)
        if describe is not None:
            try:
                return describe(frame.f_locals)
            except Exception:  # a label that cannot be read: the function's name below
                break
        frame = frame.f_back
    if innermost is None:
        return "running"
    code = innermost.f_code
    return f"running {code.co_name} ({os.path.basename(code.co_filename)}:{innermost.f_lineno})"


_KINDS = (
    (resource.RLIMIT_AS, 0, "address space", "ulimit -v"),
    (resource.RLIMIT_DATA, 5, "data", "ulimit -d"),
)
"""The limits watched: (resource, field of /proc/self/statm that measures it, its name, how a user sets it)."""


def _limits() -> list[tuple[int, int, str, str]]:
    """(limit in bytes, statm field, name, how it is set) of each limit the process has."""
    out = []
    for res, field, name, how in _KINDS:
        soft = resource.getrlimit(res)[0]
        if soft != resource.RLIM_INFINITY:
            out.append((soft, field, name, how))
    return out


def _look(_signum: int, frame: FrameType | None) -> None:
    """The timer's handler: end the process when it is within `MARGIN` of a limit."""
    try:
        fields = os.pread(_state["statm"], 256, 0).split()
        page = mmap.PAGESIZE
        for limit, field, name, how in _state["limits"]:
            used = int(fields[field]) * page
            if used > limit - MARGIN:
                mib = 1 << 20
                out_of_memory(frame, detail=f"{used // mib} of {limit // mib} MiB of {name} in use, {how}")
    except MemoryError:
        out_of_memory(frame)
