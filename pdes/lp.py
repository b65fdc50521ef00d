"""One logical process: a SimPy environment, its ports, and its input queue.

Cross-LP messages wait in a heap ordered by ``(timestamp, src LP index,
link_seq)`` and are injected into the environment, URGENT, only when the LP
reaches their timestamp and every input channel has promised nothing earlier
can still come. That is what makes results independent of arrival order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sized
from heapq import heappop, heappush
from typing import Any

import numpy as np

from .clock import URGENT, LPEnvironment
from .codec import decode, encode
from .errors import ModelError

__all__ = ["LP", "Message", "lp_rng"]

INF = math.inf

# A message in flight: (dst index, timestamp, src index, link_seq, link name, payload bytes).
Record = tuple


class Message:
    """A message as its receiver sees it."""

    __slots__ = ("link", "payload", "src", "timestamp")

    def __init__(self, src: str, link: str, timestamp: float, payload: Any) -> None:
        self.src = src
        self.link = link
        self.timestamp = timestamp
        self.payload = payload

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

    def __init__(
        self,
        name: str,
        index: int,
        seed: int,
        ports: dict[str, tuple[int, float]],
        lp_names: list[str],
        emit: Callable[[Record], None],
    ) -> None:
        self.name = name
        self.index = index
        self.env = LPEnvironment(name)
        self.rng = lp_rng(seed, name)
        self.state: Any = None
        self._ports = ports
        self._names = lp_names
        self._emit = emit
        self._handler: Callable[[Message], Any] | None = None
        self._describe: Callable[[], dict] | None = None
        self._pending: list[tuple] = []
        self._seq: dict[int, int] = {}
        self.events = 0
        self.sent = 0
        self.received = 0

    # --- model-facing API -------------------------------------------------
    @property
    def now(self) -> float:
        return self.env.now

    @property
    def ports(self) -> list[str]:
        """Names of this LP's output ports."""
        return list(self._ports)

    def on_receive(self, handler: Callable[[Message], Any]) -> None:
        """Call ``handler(message)`` at each incoming message's timestamp."""
        self._handler = handler

    def on_describe(self, fn: Callable[[], dict]) -> None:
        """Add ``fn()`` (a msgpack-able dict) as ``state`` to this LP's entry in deadlock dumps."""
        self._describe = fn

    def send(self, port: str, payload: Any = None, delay: float = 0.0) -> float:
        """Send ``payload`` on ``port``; it arrives at ``now + latency + delay``. Returns that time."""
        try:
            dst, latency = self._ports[port]
        except KeyError:
            known = ", ".join(sorted(self._ports)) or "none"
            raise ModelError(f"LP {self.name!r} has no output port {port!r} (ports: {known})") from None
        if not delay >= 0:
            raise ValueError(f"LP {self.name!r}: send delay must be >= 0, got {delay!r}")
        when = self.env._now + latency + delay
        seq = self._seq.get(dst, 0)
        self._seq[dst] = seq + 1
        self.sent += 1
        self._emit((dst, when, self.index, seq, port, encode(payload)))
        return when

    # --- engine-facing API ------------------------------------------------
    def deliver(self, record: Record) -> None:
        """Queue an incoming message until the LP reaches its timestamp."""
        _, when, src, seq, link, payload = record
        heappush(self._pending, (when, src, seq, link, payload))
        self.received += 1

    def next_time(self) -> float:
        """Time of the earliest local event or queued message (inf if none)."""
        queue = self.env._queue
        t = queue[0][0] if queue else INF
        if self._pending and self._pending[0][0] < t:
            return self._pending[0][0]
        return t

    def advance(self, limit: float, runnable: Sized, run_workers: Callable[[], None]) -> int:
        """Process every event before ``limit``; return how many were processed.

        After each event, workers it woke (``runnable``) run before time moves on.
        """
        env = self.env
        queue = env._queue
        pending = self._pending
        step = env.step
        count = 0
        try:
            while True:
                t_local = queue[0][0] if queue else INF
                if pending and pending[0][0] <= t_local:
                    if pending[0][0] >= limit:
                        break
                    self._inject(pending[0][0])
                    continue
                if t_local >= limit:
                    break
                step()
                count += 1
                if runnable:
                    run_workers()
        finally:
            self.events += count
        return count

    def _inject(self, when: float) -> None:
        pending = self._pending
        if self._handler is None:
            raise ModelError(f"LP {self.name!r} received a message but has no handler (lp.on_receive)")
        while pending and pending[0][0] == when:
            _, src, _, link, payload = heappop(pending)
            message = Message(self._names[src], link, when, decode(payload))
            self.env.call_at(when, self._dispatch, message, URGENT)

    def _dispatch(self, event) -> None:
        self._handler(event._value)

    def describe(self) -> dict:
        """State for deadlock dumps."""
        return {
            "lp": self.name,
            "now": self.env.now,
            "queued_events": len(self.env._queue),
            "pending_messages": len(self._pending),
            "next_time": self.next_time(),
            "events": self.events,
        } | ({"state": self._describe()} if self._describe else {})
