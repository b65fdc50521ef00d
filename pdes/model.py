"""The model description every rank builds identically: LPs and links.

A :class:`Model` is pure data plus builder callbacks. Every rank constructs
the same one (SPMD) but builds only the LPs it owns; the link table is global.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .codec import encode
from .errors import ModelError

__all__ = ["LPSpec", "Link", "Model"]

Builder = Callable[[Any], Any]
Reporter = Callable[[Any], Any]


@dataclass(frozen=True)
class Link:
    """Directed channel ``src -> dst``; messages arrive ``latency + delay`` after sending."""

    src: str
    dst: str
    latency: float
    name: str


@dataclass(frozen=True)
class LPSpec:
    """An LP: ``build(lp)`` creates its model state; ``report(state)`` gives its result."""

    name: str
    build: Builder
    report: Reporter | None = None


class Model:
    """Named LPs and the links between them.

    ``seed`` feeds every LP's random generator (seeded from the run seed and
    the LP name, never from a global generator).
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.lps: list[LPSpec] = []
        self.links: list[Link] = []
        self._index: dict[str, int] = {}
        self._link_names: set[tuple[str, str]] = set()

    def add_lp(self, name: str, build: Builder, report: Reporter | None = None) -> None:
        """Declare LP ``name``; ``build(lp)`` runs only on the rank that owns it."""
        if not isinstance(name, str) or not name:
            raise ModelError(f"LP name must be a non-empty string, got {name!r}")
        if name in self._index:
            raise ModelError(f"LP {name!r} is declared twice")
        self._index[name] = len(self.lps)
        self.lps.append(LPSpec(name, build, report))

    def add_link(self, src: str, dst: str, latency: float, name: str | None = None) -> Link:
        """Declare a directed link; ``name`` (default: ``dst``) is the sender's port name."""
        for role, lp in (("source", src), ("destination", dst)):
            if lp not in self._index:
                raise ModelError(f"link {src!r} -> {dst!r}: unknown {role} LP {lp!r}")
        port = dst if name is None else name
        label = f"link {src!r} -> {dst!r} (port {port!r})"
        if src == dst:
            raise ModelError(f"{label}: an LP cannot link to itself; schedule local events instead")
        if not isinstance(latency, (int, float)) or not math.isfinite(latency) or latency <= 0:
            raise ModelError(
                f"{label}: latency must be a finite number > 0 (it is the lookahead), got {latency!r}"
            )
        if (src, port) in self._link_names:
            raise ModelError(f"{label}: LP {src!r} already has a port named {port!r}")
        self._link_names.add((src, port))
        link = Link(src, dst, latency, port)
        self.links.append(link)
        return link

    def index(self, name: str) -> int:
        """Global index of LP ``name`` (declaration order)."""
        try:
            return self._index[name]
        except KeyError:
            raise ModelError(f"unknown LP {name!r}") from None

    @property
    def lp_names(self) -> list[str]:
        return [spec.name for spec in self.lps]

    def digest(self) -> str:
        """Hash of the LP set, link table and seed: equal on every rank or the run is refused."""
        table = [self.seed, self.lp_names, [[k.src, k.dst, k.latency, k.name] for k in self.links]]
        return hashlib.sha256(encode(table)).hexdigest()[:16]

    def describe(self) -> str:
        """One line for error messages comparing models between ranks."""
        names = self.lp_names
        span = f"{names[0]}..{names[-1]}" if names else "none"
        return f"{len(names)} LPs ({span}), {len(self.links)} links, seed {self.seed}"
