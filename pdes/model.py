"""The model description every rank builds identically: LPs and links.

A :class:`Model` is pure data plus builder callbacks. Every rank constructs
the same one (SPMD) but builds only the LPs it owns; the link table is global.

Links are declared one by one (:meth:`Model.add_link`) or, for a complete
graph with one latency, as a :class:`LinkGroup` (:meth:`Model.add_link_group`),
which costs O(members) instead of one object per LP pair.

Time resolution: a latency ``L`` only advances a float clock at ``t`` while the
float spacing there, ``math.ulp(t)``, is at most ``L``; beyond
:func:`time_limit` ``(L)`` a run could stall with ``t + L == t``. Runs check
their horizon against the smallest latency (:meth:`Model.check_horizon`); see
docs/adr/0007.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .codec import encode
from .errors import ModelError

__all__ = ["LPSpec", "Link", "LinkGroup", "Model", "time_limit"]

SEED_RANGE = (-(2**63), 2**64)  # what msgpack (the digest) and the LP generators take

Builder = Callable[[Any], Any]
Reporter = Callable[[Any], Any]


@dataclass(frozen=True)
class Link:
    """Directed channel ``src -> dst``; messages arrive ``latency + delay`` after sending."""

    src: str
    dst: str
    latency: float
    name: str


class LinkGroup:
    """Every member links to every other member with ``latency`` (a complete directed graph).

    The port from ``a`` to ``b`` is named ``prefix + b``. Nothing is stored per pair: the
    engine resolves ports and input bounds arithmetically.
    """

    __slots__ = ("index_of", "indices", "latency", "members", "prefix")

    def __init__(self, members: tuple[str, ...], indices: tuple[int, ...], latency: float, prefix: str) -> None:
        self.members = members
        self.indices = indices
        self.latency = latency
        self.prefix = prefix
        self.index_of = dict(zip(members, indices, strict=True))  # member name -> global LP index

    def port_target(self, src: str, port: str) -> str | None:
        """The member that ``src``'s port ``port`` leads to in this group, or None."""
        if not port.startswith(self.prefix):
            return None
        dst = port[len(self.prefix) :]
        return dst if dst != src and dst in self.index_of and src in self.index_of else None

    def __len__(self) -> int:
        return len(self.members)

    @property
    def pairs(self) -> int:
        """How many links the group stands for."""
        return len(self.members) * (len(self.members) - 1)

    def describe(self) -> str:
        span = f"{self.members[0]}..{self.members[-1]}" if self.members else "none"
        prefix = f", ports {self.prefix!r} + name" if self.prefix else ""
        return f"all-to-all link group of {len(self.members)} LPs ({span}{prefix})"

    def __repr__(self) -> str:
        return f"LinkGroup({self.describe()}, latency={self.latency!r})"


def time_limit(latency: float) -> float:
    """The simulated time from which ``latency`` can no longer advance a float clock reliably.

    Below it the float spacing is at most ``latency`` (``t + latency >= math.nextafter(t, inf)``
    for every ``0 <= t < time_limit(latency)``); from it on the spacing exceeds ``latency``, and
    at larger times ``t + latency == t``. A power of two.
    """
    if not latency > 0:
        return 0.0
    if latency == math.inf:
        return math.inf
    # ulp(t) = 2**(e - 52) for t in [2**e, 2**(e + 1)): the first e with 2**(e - 52) > latency.
    e = math.frexp(latency)[1] - 1  # latency in [2**e, 2**(e + 1)), so 2**(k - 52) > latency <=> k >= e + 53
    try:
        return math.ldexp(1.0, e + 53)
    except OverflowError:
        return math.inf


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
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or not SEED_RANGE[0] <= seed < SEED_RANGE[1]
        ):
            raise ModelError(f"seed must be an integer in [-2**63, 2**64), got {seed!r}")
        self.seed = int(seed)
        self.lps: list[LPSpec] = []
        self.links: list[Link] = []
        self.groups: list[LinkGroup] = []
        self._index: dict[str, int] = {}
        self._link_names: set[tuple[str, str]] = set()
        self._groups_of: dict[str, list[LinkGroup]] = {}  # LP name -> the groups it belongs to
        self._shortest: tuple[float, str] = (math.inf, "")  # smallest latency, and which link has it
        self.grid: tuple[int, int] | None = None
        """(width, height) when the LPs, in declaration order, sit on a grid (`declare_grid`)."""

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
        _check_latency(label, latency)
        if (src, port) in self._link_names:
            raise ModelError(f"{label}: LP {src!r} already has a port named {port!r}")
        for group in self._groups_of.get(src, ()):
            if group.port_target(src, port) is not None:
                raise ModelError(f"{label}: LP {src!r} already has a port named {port!r} (from the {group.describe()})")
        self._link_names.add((src, port))
        link = Link(src, dst, latency, port)
        self.links.append(link)
        self._note_latency(latency, label)
        return link

    def add_link_group(self, lps: Iterable[str] | None, latency: float, prefix: str = "") -> LinkGroup:
        """Link every LP of ``lps`` (default: every LP declared so far) to every other one.

        Stands for the ``n * (n - 1)`` links ``add_link(a, b, latency, name=prefix + b)`` for
        ``a != b``, with the same results, but costs O(n) to declare and wire: the port
        ``prefix + b`` of member ``a`` is resolved when it is used, and an LP's input bound
        from the group is ``latency`` plus the smallest promise of the *other* members.
        """
        members = tuple(self.lp_names if lps is None else lps)
        if not isinstance(prefix, str):
            raise ModelError(f"link group: prefix must be a string, got {prefix!r}")
        for name in members:
            if name not in self._index:
                raise ModelError(f"link group: unknown LP {name!r}")
        if len(set(members)) != len(members):
            dup = next(n for k, n in enumerate(members) if n in members[:k])
            raise ModelError(f"link group: LP {dup!r} is listed twice")
        group = LinkGroup(members, tuple(self._index[n] for n in members), latency, prefix)
        label = group.describe()
        if len(members) > 1:
            label = f"link {members[0]!r} -> {members[1]!r} (port {prefix + members[1]!r}, in the {label})"
        _check_latency(label, latency)
        for other in self.groups:  # two groups sharing two LPs and a prefix would give one port twice
            if other.prefix == prefix:
                shared = [n for n in other.members if n in group.index_of]
                if len(shared) > 1:
                    raise ModelError(
                        f"{label}: LP {shared[0]!r} already has a port named {prefix + shared[1]!r} "
                        f"(from the {other.describe()}); use another prefix"
                    )
        for src, port in self._link_names:
            if group.port_target(src, port) is not None:
                raise ModelError(f"{label}: LP {src!r} already has a port named {port!r} (from add_link)")
        self.groups.append(group)
        for name in members:
            self._groups_of.setdefault(name, []).append(group)
        if len(members) > 1:
            self._note_latency(latency, label)
        return group

    def declare_grid(self, width: int, height: int) -> None:
        """Say that the LPs declared so far sit on a ``width x height`` grid, LP ``y * width + x`` at (x, y): a
        hint for partitions (``"tiles"``), never for results."""
        if width < 1 or height < 1 or width * height != len(self.lps):
            raise ModelError(f"a {width} x {height} grid does not hold the model's {len(self.lps)} LPs")
        self.grid = (width, height)

    def _note_latency(self, latency: float, label: str) -> None:
        if latency < self._shortest[0]:
            self._shortest = (latency, label)

    @property
    def shortest_link(self) -> tuple[float, str]:
        """The smallest latency of any link (inf without links) and a label naming a link that has it."""
        return self._shortest

    def check_horizon(self, until: float) -> None:
        """Refuse a run to ``until`` that some link's latency cannot carry.

        Every event of the run happens before ``until``; each latency must be at least the
        float spacing there (``until <= time_limit(latency)``), or ``t + latency`` could equal
        ``t`` and stall the synchronizer. A run to quiescence has no horizon to check up front:
        the engine checks the time of each global reduction instead (``t >= time_limit`` stops
        it with the same message); see :meth:`pdes.Simulation.run`.
        """
        latency, label = self._shortest
        if until > time_limit(latency):
            raise ModelError(horizon_message(label, latency, until))

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
        """Hash of the LP set, link table, link groups and seed: equal on every rank or the run is refused."""
        table = [
            self.seed,
            self.lp_names,
            [[k.src, k.dst, k.latency, k.name] for k in self.links],
            [[list(g.indices), g.latency, g.prefix] for g in self.groups],
        ]
        return hashlib.sha256(encode(table)).hexdigest()[:16]

    def describe(self) -> str:
        """One line for error messages comparing models between ranks."""
        names = self.lp_names
        span = f"{names[0]}..{names[-1]}" if names else "none"
        groups = f", {len(self.groups)} link groups ({sum(g.pairs for g in self.groups)} pairs)" if self.groups else ""
        return f"{len(names)} LPs ({span}), {len(self.links)} links{groups}, seed {self.seed}"


def horizon_message(label: str, latency: float, t: float) -> str:
    """Why ``latency`` cannot carry a run to ``t``."""
    return (
        f"{label}: latency {latency!r} cannot advance time at t={t!r} (float resolution {math.ulp(t):.2g}); "
        f"it allows runs up to t={time_limit(latency)!r}: use a larger latency, a shorter run, "
        "or a coarser time unit"
    )


def _check_latency(label: str, latency: float) -> None:
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not math.isfinite(latency) or latency <= 0:
        raise ModelError(f"{label}: latency must be a finite number > 0 (it is the lookahead), got {latency!r}")
