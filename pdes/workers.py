"""Host workers: sequential host code running inside the simulation.

A worker is a greenlet bound to one LP. It runs at that LP's ``now``, takes no
simulated time, and blocks in :meth:`WorkerPool.wait` until an event has been
processed. The engine only advances simulated time while every worker of the
process is blocked or finished, so host code reads sequentially.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import simpy
from greenlet import getcurrent, greenlet

from . import memory
from .errors import message_of
from .lp import LP

__all__ = ["Worker", "WorkerPool"]


class Worker:
    """One host worker; ``value`` is its function's return value once ``done``."""

    def __init__(self, pool: WorkerPool, lp: LP, fn: Callable, args: tuple, name: str) -> None:
        self.pool = pool
        self.lp = lp
        self.name = name
        self.done = False
        self.value: Any = None
        self.waiting_on: simpy.Event | None = None
        self.glet = greenlet(lambda *_: _host_code(self, fn, args))

    def describe(self) -> dict:
        return {"worker": self.name, "lp": self.lp.name, "now": self.lp.env.now, "waiting_on": repr(self.waiting_on)}


def _host_code(worker: Worker, fn: Callable, args: tuple) -> Any:
    """The bottom of every worker's greenlet: what `pdes.memory` names when host code runs out of memory."""
    return fn(worker.lp, *args)


memory.label(_host_code, lambda f: f"running host code on {f['worker'].lp.name} at t={f['worker'].lp.now:g}")


class WorkerFailure(Exception):
    """A worker raised; carries the worker so the engine can name its LP."""

    def __init__(self, worker: Worker, exc: BaseException) -> None:
        super().__init__(message_of(exc))
        self.worker = worker
        self.exc = exc


class WorkerPool:
    """The workers of one rank engine, and the scheduler side of ``wait``."""

    def __init__(self, registry: dict) -> None:
        self._registry = registry  # greenlet -> Worker, shared by every pool of a Simulation
        self.workers: list[Worker] = []
        self.runnable: deque[tuple[Worker, bool, Any]] = deque()
        self.engine_glet: greenlet | None = None

    def spawn(self, lp: LP, fn: Callable, args: tuple, name: str | None) -> Worker:
        worker = Worker(self, lp, fn, args, name or f"{lp.name}/worker{len(self.workers)}")
        if self.engine_glet is not None:
            worker.glet.parent = self.engine_glet
        self._registry[worker.glet] = worker
        self.workers.append(worker)
        self.runnable.append((worker, True, None))
        return worker

    def attach(self, engine_glet: greenlet) -> None:
        """Make ``engine_glet`` (the one running the rank loop) the workers' scheduler."""
        self.engine_glet = engine_glet
        for worker in self.workers:
            if not worker.done:
                worker.glet.parent = engine_glet

    def blocked(self) -> list[Worker]:
        return [w for w in self.workers if not w.done]

    def run_runnable(self) -> None:
        """Run every runnable worker until it blocks again or finishes."""
        runnable = self.runnable
        while runnable:
            worker, ok, value = runnable.popleft()
            worker.waiting_on = None
            try:
                result = worker.glet.switch(value) if ok else worker.glet.throw(value)
            except BaseException as exc:
                memory.check(exc)
                worker.done = True
                self._registry.pop(worker.glet, None)
                raise WorkerFailure(worker, exc) from exc
            if worker.glet.dead:
                worker.done = True
                worker.value = result
                self._registry.pop(worker.glet, None)

    def wait(self, worker: Worker, event: simpy.Event) -> Any:
        """Block ``worker`` until ``event`` is processed; return its value or raise its exception."""
        if event.env is not worker.lp.env:
            raise RuntimeError(f"worker {worker.name!r} can only wait on events of its own LP {worker.lp.name!r}")
        if event.callbacks is None:  # already processed
            if event._ok:
                return event._value
            raise event._value
        if self.engine_glet is None:
            raise RuntimeError(f"worker {worker.name!r} waits, but no rank engine runs the workers (attach)")
        worker.waiting_on = event
        event.callbacks.append(lambda ev: self._wake(worker, ev))
        return self.engine_glet.switch()

    def _wake(self, worker: Worker, event: simpy.Event) -> None:
        if not event._ok:
            event._defused = True
        self.runnable.append((worker, event._ok, event._value))


def current_worker(registry: dict, caller: str = "wait()") -> Worker:
    """The worker running the calling code, or a clear error outside one."""
    worker = registry.get(getcurrent())
    if worker is None:
        raise RuntimeError(f"{caller} must be called from inside a host worker (sim.spawn_worker)")
    return worker
