"""Exceptions raised by the engine."""

from __future__ import annotations


class PdesError(Exception):
    """Base class of every error the engine raises itself."""


class ModelError(PdesError, ValueError):
    """The model is malformed: unknown LP or port, zero latency, mismatch between ranks."""


class SimulationDeadlock(PdesError):
    """Host workers wait for events that can never happen.

    Raised on every rank at once, with a dump of every blocked worker and LP.
    ``blocked`` lists one dict per blocked worker; ``lps`` one dict per LP.
    """

    def __init__(self, message: str, blocked: list[dict], lps: list[dict]) -> None:
        super().__init__(message)
        self.blocked = blocked
        self.lps = lps


class RemoteError(PdesError):
    """Another rank (or LP) failed; raised on every rank that did not fail itself.

    ``failures`` holds, per failure, the rank, LP, exception type, message and
    formatted traceback of the original exception.
    """

    def __init__(self, message: str, failures: list[dict]) -> None:
        super().__init__(message)
        self.failures = failures
