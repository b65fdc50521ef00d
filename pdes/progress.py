"""A one-line progress display (simulated time, events/s, finished workers) for terminals only."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["ProgressLine"]


class ProgressLine:
    """Callable handed to ``Simulation.run(progress=...)``; silent unless ``stream`` is a TTY.

    It stays quiet for the first ``delay_s`` of a run, so short runs print nothing but their result. ``unit`` is
    the model's time unit; ``workers_label`` and ``workers_total`` turn the engine's count of finished host
    workers (summed over ranks) into e.g. ``sips done 37/1024``.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        interval_s: float = 0.5,
        enabled: bool | None = None,
        delay_s: float = 1.0,
        unit: str = "",
        workers_label: str = "workers done",
        workers_total: int | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.delay_s = delay_s
        self.unit = f" {unit}" if unit else ""
        self.workers_label = workers_label
        self.workers_total = workers_total
        self._last = 0.0
        self._width = 0
        self._info: dict | None = None

    def __call__(self, info: dict) -> None:
        if not self.enabled or info["wall_s"] < self.delay_s:
            return
        self._info = info
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self._draw(info)

    def _draw(self, info: dict) -> None:
        t = info["sim_time"]
        when = f"{t:.6g}{self.unit}" if math.isfinite(t) else "end"  # the last reduction: nothing left anywhere
        rate = info["events"] / info["wall_s"]
        text = f"  sim t={when}  events={info['events']:,}  {rate:,.0f} events/s"
        if "workers_done" in info:
            total = "" if self.workers_total is None else f"/{self.workers_total}"
            text += f"  {self.workers_label} {info['workers_done']}{total}"
        self.stream.write("\r" + text.ljust(self._width))  # pad over the rest of a longer previous line
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Show the last state the run reported (throttling may have skipped it), then end the line so later
        output starts on a fresh one."""
        if self._info is not None:
            self._draw(self._info)
            self.stream.write("\n")
            self.stream.flush()
        self._info = None
        self._width = 0
