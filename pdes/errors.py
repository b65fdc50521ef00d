"""Exceptions raised by the engine.

An error that every rank raises at once for one cause names the rank that reports it (``reported_by``): under
``mpirun`` the abort hook (`pdes.abort`) prints it there only, so a job's output holds the cause once.
"""

from __future__ import annotations

from typing import Any


def message_of(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when its ``__str__`` raises: a report must survive the exceptions it reports."""
    try:
        return str(exc)
    except Exception as error:  # any exception class may define __str__
        return f"<{type(exc).__name__}.__str__ raised {type(error).__name__}>"


class PdesError(Exception):
    """Base class of every error the engine raises itself."""

    # The rank that reports this error when every rank raises it at once; None: each rank reports its own.
    reported_by: int | None = None


class ModelError(PdesError, ValueError):
    """The model is malformed: unknown LP or port, zero latency, mismatch between ranks."""


class SimulationDeadlock(PdesError):
    """Host workers wait for events that can never happen.

    Raised on every rank at once, with a dump of every blocked worker and LP; rank 0 reports it. ``blocked`` lists
    one dict per blocked worker; ``lps`` one dict per LP; ``finished`` maps each worker that had finished, on any
    rank, to its return value (a value msgpack cannot carry is given as its ``repr``), so that a layer above can
    say which failed worker the others were waiting for.
    """

    reported_by = 0

    def __init__(
        self, message: str, blocked: list[dict], lps: list[dict], finished: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.blocked = blocked
        self.lps = lps
        self.finished = finished or {}


class RemoteError(PdesError):
    """Another rank (or LP) failed; raised on every rank that did not fail itself.

    ``failures`` holds, per failure, the rank, LP (None for a failure outside the simulation, see
    `Simulation.settle`), exception type, message and formatted traceback of the original exception.
    ``reported_by`` is the rank of the first failure: it raises the original exception and prints it.
    """

    def __init__(self, message: str, failures: list[dict]) -> None:
        super().__init__(message)
        self.failures = failures
        self.reported_by: int = failures[0]["rank"]
