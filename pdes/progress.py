"""A one-line progress display (simulated time, events/s) for terminals only."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressLine"]


class ProgressLine:
    """Callable handed to ``Simulation.run(progress=...)``; silent unless ``stream`` is a TTY."""

    def __init__(self, stream: TextIO | None = None, interval_s: float = 0.5, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._shown = False

    def __call__(self, info: dict) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        rate = info["events"] / info["wall_s"] if info["wall_s"] > 0 else 0.0
        self.stream.write(f"\r  sim t={info['sim_time']:.6g}  events={info['events']:,}  {rate:,.0f} events/s   ")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the line so later output starts on a fresh one."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
