"""Several SPMD programs at once on one engine: the jobs of a what-if scenario, sharing the system's fabric.

An SPMD bench's top level runs ``spawn``, which simulates until its ranks are done; two benches called one after
the other would never overlap. Here each program's top level runs in a greenlet of its own. A ``spawn`` registers
its ranks' workers and hands control back (`simulate`); once every program waits in ``spawn`` or has ended, one
engine run serves all their workers at once, so their traffic meets on the links where their routes cross; then
each waiting program goes on with its own outcomes. Programs resume in the order they were given, the same on every
process, so every MPI rank runs the engine the same number of times with the same step name.

A program that spawns several times starts its next ``spawn`` when every program's current one has ended (the
runs are rounds): jobs overlap spawn by spawn, which is what the shipped benches (one ``spawn`` each) need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from greenlet import getcurrent, greenlet

from kernbench.runtime.context import RuntimeContext
from kernbench.runtime.multiprocessing import run_workers
from pdes import SimulationDeadlock, memory

if TYPE_CHECKING:
    from kernbench.ccl import CclConfig
    from kernbench.engine import Engine

Outcome = tuple[bool, Any]
"""(True, what the program returned) or (False, the exception it raised)."""


class Jobs:
    """Programs that run at once on ``engine``, each with the `RuntimeContext` of its job (`context`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._contexts: list[RuntimeContext] = []
        self._hub: greenlet | None = None

    def context(self, ccl: CclConfig, sips: Sequence[int]) -> RuntimeContext:
        """A job's ``torch`` object: its world is ``sips`` (rank r on SIP ``sips[r]``)."""
        ctx = RuntimeContext(self.engine, ccl, job=sips, jobs=self)
        self._contexts.append(ctx)
        return ctx

    def worker_prefix(self, ctx: RuntimeContext) -> str:
        """How the workers of ``ctx``'s job are named (``job1/rank3``): distinct from every other job's."""
        return f"job{self._contexts.index(ctx)}/rank"

    def run(self, programs: Sequence[Callable[[], Any]]) -> list[Outcome]:
        """Run every program to its end, their spawns simulated together; each one's outcome, in order."""
        glets = [greenlet(_catching(program)) for program in programs]
        outcomes: list[Outcome | None] = [None] * len(glets)
        resume: dict[int, tuple] = dict.fromkeys(range(len(glets)), ())  # what each switch passes in
        self._hub = getcurrent()
        try:
            while resume:
                waiting: dict[int, str] = {}
                for i, value in resume.items():
                    answer = glets[i].switch(*value)
                    if glets[i].dead:
                        outcomes[i] = answer
                    else:
                        waiting[i] = answer  # the step name of the spawn it waits in
                if not waiting:
                    break
                step = "; ".join(f"job {i}: {name}" for i, name in waiting.items())
                shared = run_workers(self.engine, step)
                resume = dict.fromkeys(waiting, (shared,))
        finally:
            self._hub = None
        return [outcome for outcome in outcomes if outcome is not None]

    def simulate(self, ctx: RuntimeContext, step: str) -> tuple[dict[str, Any], SimulationDeadlock | None]:
        """From ``ctx``'s ``spawn``: wait for the run the jobs share; every worker's value by name, and its
        deadlock if it ended in one."""
        if self._hub is None:
            raise RuntimeError(f"spawn in job {self._contexts.index(ctx)}: its program must run under Jobs.run")
        return self._hub.switch(step)


def _catching(program: Callable[[], Any]) -> Callable[[], Outcome]:
    def body() -> Outcome:
        try:
            return True, program()
        except (Exception, SystemExit) as exc:  # the job fails, the others go on
            memory.check(exc)
            return False, exc

    return body
