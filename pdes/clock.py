"""Absolute-time scheduling on SimPy environments.

A cross-LP message's timestamp is computed once by the sender and must be
scheduled at exactly that value in the receiver. ``env.timeout(ts - env.now)``
would compute ``now + (ts - now)``, which differs from ``ts`` in the last bit
for a fraction of floats and so depends on the receiver's ``now``.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL, URGENT, Event, EventPriority

__all__ = ["NORMAL", "URGENT", "LPEnvironment", "schedule_at", "wake_at"]


def schedule_at(env: simpy.Environment, event: simpy.Event, when: float, priority: EventPriority = NORMAL) -> None:
    """Schedule ``event`` (already triggered) to be processed at absolute time ``when``."""
    if when < env._now:
        raise _in_the_past(env, when)
    heappush(env._queue, (when, priority, next(env._eid), event))


def wake_at(env: simpy.Environment, when: float, value: Any = None, priority: EventPriority = NORMAL) -> simpy.Event:
    """A new event, processed at exactly absolute time ``when`` with ``value`` (``yield`` it in a process)."""
    if when < env._now:
        raise ValueError(f"cannot schedule at t={when!r}: the environment is already at t={env._now!r}")
    event = Event(env)
    event._ok = True
    event._value = value
    heappush(env._queue, (when, priority, next(env._eid), event))
    return event


def _in_the_past(env: simpy.Environment, when: float) -> ValueError:
    return ValueError(f"cannot schedule at t={when!r}: the environment is already at t={env._now!r}")


class LPEnvironment(simpy.Environment):
    """The SimPy environment of one logical process, with absolute-time helpers."""

    def __init__(self, name: str, initial_time: float = 0.0) -> None:
        super().__init__(initial_time)
        self.name = name

    def schedule_at(self, event: simpy.Event, when: float, priority: EventPriority = NORMAL) -> None:
        """Schedule a triggered ``event`` at absolute time ``when``."""
        schedule_at(self, event, when, priority)

    def call_at(
        self, when: float, callback: Callable[[Event], None], value: Any = None, priority: EventPriority = NORMAL
    ) -> simpy.Event:
        """Call ``callback(event)`` at absolute time ``when``; returns the event."""
        if when < self._now:
            raise ValueError(f"cannot schedule at t={when!r}: the environment is already at t={self._now!r}")
        event = Event(self)
        event._ok = True
        event._value = value
        event.callbacks.append(callback)
        heappush(self._queue, (when, priority, next(self._eid), event))
        return event

    def advance_to(self, when: float) -> None:
        """Move ``now`` forward to ``when`` with no event in between (end of ``run(until)``)."""
        if self._queue and self._queue[0][0] < when:
            raise RuntimeError(f"LP {self.name!r}: cannot jump to t={when}, events are pending before it")
        if when > self._now:
            self._now = when
