"""What a failed host worker raised, in a form that crosses MPI processes and comes back as an exception.

Arbitrary exceptions cannot be relied on to pickle, let alone to go through msgpack, so a failed worker is
described by a `WorkerError` (type name, message, where it was raised, traceback text) that travels with the
simulation's results. On a process that did not run the worker, `WorkerError.exception` re-creates a
`RemoteWorkerError` with the original type name (a subclass of that builtin where there is one, so
``except KeyError`` still works), the original message and the remote traceback as a note.
"""

from __future__ import annotations

import builtins
import os
import re
import sysconfig
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pdes
from pdes.errors import message_of

_LIBRARY_DIRS = tuple(
    os.path.join(p.resolve(), "")
    for p in {
        Path(__file__).resolve().parents[1],
        Path(pdes.__file__).parent,
        *(Path(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")),
    }
)
"""Frames in these directories are library code; ``where`` names the innermost frame outside them."""


def _in_user_code(filename: str) -> bool:
    return not str(Path(filename).resolve()).startswith(_LIBRARY_DIRS)


def user_frame(exc: BaseException) -> str | None:
    """``file.py:LINE`` of the innermost frame in user code that ``exc`` (or an exception it was raised from,
    such as a kernel's error inside a `KernelError`) passed through; None when all are library frames."""
    where = None
    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        for frame in traceback.extract_tb(chain.__traceback__):
            if _in_user_code(frame.filename):
                where = f"{Path(frame.filename).name}:{frame.lineno}"
        chain = chain.__cause__
    return where


_FRAME = re.compile(r'^  File "(.+)", line (\d+)', re.MULTILINE)
"""A frame line of a formatted traceback."""


def user_frame_in(text: str) -> str | None:
    """`user_frame` of a formatted traceback (another process's failure): its last frame in user code."""
    where = None
    for filename, line in _FRAME.findall(text):
        if _in_user_code(filename):
            where = f"{Path(filename).name}:{line}"
    return where


@dataclass(frozen=True)
class WorkerError:
    """One failed worker (``rank``: its rank = SIP), plain data: pickles, and goes through msgpack as a dict."""

    rank: int
    type: str
    message: str
    where: str | None
    stack: str
    """The worker's own frames (``traceback.format_tb``), without the exception line."""
    traceback: str
    """The whole ``traceback.format_exception`` text, causes included."""

    @classmethod
    def of(cls, rank: int, exc: BaseException) -> WorkerError:
        return cls(
            rank,
            type(exc).__name__,
            message_of(exc),
            user_frame(exc),
            "".join(traceback.format_tb(exc.__traceback__)),
            "".join(traceback.format_exception(exc)),
        )

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> WorkerError:
        return cls(**data)

    def headline(self) -> str:
        """``ValueError: boom (at bench.py:12)``, on one line."""
        message = " ".join(self.message.split()) or "(no message)"
        return f"{self.type}: {message}" + (f" (at {self.where})" if self.where else "")

    def exception(self) -> RemoteWorkerError:
        """An exception standing for the original one, on a process that did not run the worker."""
        try:
            exc = _exception_class(self.type)(self.message)
        except TypeError:  # a builtin whose constructor wants more than a message
            exc = RemoteWorkerError(self.message)
        exc.summary = self
        exc.add_note(f"[raised by rank {self.rank} on another process]\n{self.traceback.rstrip()}")
        return exc


class RemoteWorkerError(Exception):
    """A worker's exception re-created from its `WorkerError` (``summary``) on another process."""

    summary: WorkerError

    def __str__(self) -> str:
        return self.summary.message if hasattr(self, "summary") else super().__str__()

    def __reduce__(self) -> tuple:
        return WorkerError.exception, (self.summary,)


_CLASSES: dict[str, type[RemoteWorkerError]] = {}


def _exception_class(name: str) -> type[RemoteWorkerError]:
    """A `RemoteWorkerError` subclass named ``name``, also deriving from the builtin exception of that name."""
    cls = _CLASSES.get(name)
    if cls is None:
        builtin = getattr(builtins, name, None)
        bases: tuple[type, ...] = (RemoteWorkerError,)
        if isinstance(builtin, type) and issubclass(builtin, Exception) and builtin is not Exception:
            bases += (builtin,)
        try:
            cls = type(name, bases, {"__module__": __name__})
        except TypeError:  # a builtin whose instance layout cannot be combined with another class
            cls = type(name, (RemoteWorkerError,), {"__module__": __name__})
        _CLASSES[name] = cls
    return cls
