"""Seconds this process has spent in Python's garbage collector.

Virtual ranks share one heap: a full collection of every rank's objects lands, as one lump, in whichever rank
happened to allocate last, while under MPI each rank collects only its own, smaller heap as it allocates. The
engine books the collector's time per round (`pdes.engine.RankEngine.round_gc`) so that the projection can spread
it over the ranks in proportion to their work instead (docs/adr/0021).
"""

from __future__ import annotations

import gc
import time
from typing import Any

__all__ = ["gc_seconds", "install"]

_clock = {"spent": 0.0, "since": 0.0}


def _callback(phase: str, _info: dict[str, Any]) -> None:
    if phase == "start":
        _clock["since"] = time.perf_counter()
    else:
        _clock["spent"] += time.perf_counter() - _clock["since"]


def install() -> None:
    """Start counting (once per process; a collection costs a callback more)."""
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)


def gc_seconds() -> float:
    """Seconds spent in collections since `install`."""
    return _clock["spent"]
