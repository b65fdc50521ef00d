"""One logical process: a SimPy environment, its ports, and its input queue.

A cross-LP message goes straight into the receiver's SimPy queue under the
key ``(timestamp, MESSAGE, (src LP index, link_seq))``. ``MESSAGE`` ranks
before every SimPy priority (URGENT included), so at equal timestamps the
messages run first, in ``(src, link_seq)`` order, whatever order they arrived
in; and the LP only steps to a time once every input channel has promised
that nothing earlier can still come. That is what makes results independent
of arrival order, hence of the partition. ``link_seq`` counts the messages the
sender has sent (one counter per LP, not a table per destination): only
messages from one sender to one receiver are compared by it, and their order
is their send order either way.

Payloads are copied by the msgpack codec at send time, except immutable
scalars, which travel as they are (:func:`pdes.codec.pack`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sized
from heapq import heappop, heappush
from typing import Any, cast

import numpy as np

from . import memory
from .clock import LPEnvironment
from .codec import PLAIN as _PLAIN
from .codec import decode, pack
from .errors import ModelError

__all__ = ["LP", "MESSAGE", "Message", "lp_rng"]

INF = math.inf

# A message in flight between ranks: (dst index, timestamp, src index, link_seq, link name, payload),
# the payload being either an immutable scalar or the bytes of its encoding (see ``pack``).
Record = tuple
# Where a sent message goes: sink(timestamp, src index, link_seq, link name, payload).
Sink = Callable[[float, int, int, str, Any], None]

# The SimPy priority of message arrivals: before URGENT (0) and NORMAL (1), and below SimPy's own -1.
MESSAGE = -2

# An entry of an LP's event heap: SimPy's own (time, priority, event id, event), or a message arrival's
# (time, MESSAGE, (src LP index, link_seq), Message), which SimPy's annotation of the heap cannot express.
QueueEntry = tuple[float, int, Any, Any]


class Message:
    """A message as its receiver sees it.

    It is also the SimPy event of its own arrival (``callbacks`` and ``_ok`` are for SimPy's
    ``step``), which saves an event object per message.
    """

    __slots__ = ("callbacks", "link", "payload", "src", "timestamp")
    _ok = True

    def __init__(self, src: str, link: str, timestamp: float, payload: Any, callbacks: list | None = None) -> None:
        self.src = src
        self.link = link
        self.timestamp = timestamp
        self.payload = payload
        self.callbacks = callbacks

    def __repr__(self) -> str:
        return f"Message(src={self.src!r}, link={self.link!r}, t={self.timestamp!r}, payload={self.payload!r:.60})"


def lp_rng(seed: int, name: str) -> np.random.Generator:
    """The random generator of LP ``name``: a function of the run seed and the name only."""
    name_key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, name_key])


class LP:
    """The runtime side of an LP, handed to its builder.

    Builders use ``env``, ``rng``, ``send`` and ``on_receive``; the engine
    uses the rest.
    """

    def __init__(self, name: str, index: int, seed: int, lp_names: list[str]) -> None:
        self.name = name
        self.index = index
        self.env = LPEnvironment(name)
        self.rng = lp_rng(seed, name)
        self.state: Any = None
        self._names = lp_names
        self._queue = cast(list[QueueEntry], self.env._queue)
        self._out: dict[str, tuple[int, float, Sink]] = {}
        self._groups: list[dict[str, tuple[int, float, Sink]]] = []
        self._handler: Callable[[Message], Any] | None = None
        self._describe: Callable[[], dict] | None = None
        # The callbacks of every arrival: the handler itself, shared (SimPy's step never mutates the list).
        self._arrival: list = [self._no_handler]
        self.events = 0
        self.sent = 0
        self.received = 0

    def connect(
        self, ports: dict[str, tuple[int, float, Sink]], groups: list[dict[str, tuple[int, float, Sink]]] | None = None
    ) -> None:
        """Engine: output ports, as port name -> (dst LP index, latency, sink taking the message).

        ``groups``: the port tables of the link groups this LP belongs to, shared by every
        member on the rank, so they also hold this LP's own name, which :meth:`send` refuses.
        """
        groups = list(groups or ())
        if not ports and len(groups) == 1:
            self._out, self._groups = groups[0], []
        else:
            self._out, self._groups = ports, groups

    # --- model-facing API -------------------------------------------------
    @property
    def now(self) -> float:
        return self.env.now

    @property
    def ports(self) -> list[str]:
        """Names of this LP's output ports."""
        tables = [self._out, *self._groups]
        return [port for table in tables for port, (dst, _, _) in table.items() if dst != self.index]

    def on_receive(self, handler: Callable[[Message], Any]) -> None:
        """Call ``handler(message)`` at each incoming message's timestamp."""
        self._handler = handler
        self._arrival[0] = self._no_handler if handler is None else handler  # in place: queued messages too

    def on_describe(self, fn: Callable[[], dict]) -> None:
        """Add ``fn()`` (a msgpack-able dict) as ``state`` to this LP's entry in deadlock dumps."""
        self._describe = fn

    def send(self, port: str, payload: Any = None, delay: float = 0.0) -> float:
        """Send ``payload`` on ``port``; it arrives at ``now + latency + delay``. Returns that time.

        The receiver gets its own copy of ``payload`` as it is now (see :func:`pdes.codec.pack`).
        """
        try:
            dst, latency, sink = self._out[port]
        except KeyError:
            dst, latency, sink = self._group_port(port)
        if dst == self.index:  # a link group's shared table also names the sender
            raise self._no_port(port)
        if not delay >= 0:
            raise ValueError(f"LP {self.name!r}: send delay must be >= 0, got {delay!r}")
        when = self.env._now + latency + delay
        # link_seq: one counter per sender. Only messages from one sender to one receiver are ever
        # compared by it, and their order is send order either way.
        seq = self.sent
        self.sent = seq + 1
        kind = type(payload)
        sink(when, self.index, seq, port, payload if kind in _PLAIN else pack(payload))
        return when

    def _group_port(self, port: str) -> tuple[int, float, Sink]:
        for table in self._groups:
            out = table.get(port)
            if out is not None:
                return out
        raise self._no_port(port)

    def _no_port(self, port: str) -> ModelError:
        known = self.ports
        listed = ", ".join(sorted(known)[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
        return ModelError(f"LP {self.name!r} has no output port {port!r} (ports: {listed or 'none'})")

    # --- engine-facing API ------------------------------------------------
    def deliver(self, when: float, src: int, seq: int, link: str, payload: Any) -> None:
        """Queue an incoming message (payload as :func:`pdes.codec.pack` made it) at its timestamp.

        Causality is the engine's business: it steps this LP to ``when`` only once no earlier
        message can still come.
        """
        if type(payload) is bytes:
            payload = decode(payload)
        heappush(
            self._queue, (when, MESSAGE, (src, seq), Message(self._names[src], link, when, payload, self._arrival))
        )
        self.received += 1

    def next_time(self) -> float:
        """Time of the earliest local event or queued message (inf if none)."""
        queue = self._queue
        return queue[0][0] if queue else INF

    def advance(self, limit: float, runnable: Sized, run_workers: Callable[[], None]) -> int:
        """Process every event before ``limit``; return how many were processed.

        After each event, workers it woke (``runnable``) run before time moves on.
        """
        env = self.env
        queue = self._queue
        count = 0
        try:
            while queue and queue[0][0] < limit:
                # simpy.Environment.step, inlined (a call less per event; StopSimulation is for env.run only)
                env._now, _, _, event = heappop(queue)
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
                count += 1
                if runnable:
                    run_workers()
        finally:
            self.events += count
        return count

    def _no_handler(self, _message: Message) -> None:
        raise ModelError(f"LP {self.name!r} received a message but has no handler (lp.on_receive)")

    def describe(self) -> dict:
        """State for deadlock dumps."""
        queue = self._queue
        messages = sum(1 for entry in queue if entry[1] == MESSAGE)
        return {
            "lp": self.name,
            "now": self.env.now,
            "queued_events": len(queue) - messages,
            "pending_messages": messages,
            "next_time": self.next_time(),
            "events": self.events,
        } | ({"state": self._describe()} if self._describe else {})


memory.label(LP.advance, lambda f: f"simulating {f['self'].name} at t={f['self'].env.now:g}")
