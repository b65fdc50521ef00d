"""Install plans: the IPCQ queues every participating PE gets, computed on the host (ADR-0024 D6 of the seeds).

A plan is pure arithmetic on the topology, the ccl.yaml entry and the rank, so every rank computes its own plan
and its peers' receive addresses without asking them. Each PE's receive rings sit one after the other, in
direction order, in its ring region of the entry's ``buffer_kind`` (`kernbench.engine.ring_region`), so no two
rings overlap. The runtime delivers each PE's queues as an `IpcqInitMsg` through the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from kernbench.ccl.config import AlgorithmConfig
from kernbench.ccl.mappers import resolve_mapper
from kernbench.ccl.topologies import SAME_NAME_LANDING, CclGeometry, Node, PeEdges, landing_direction, pe_edges
from kernbench.engine import QueueSpec, ring_region, ring_region_bytes
from kernbench.topology import PhysAddr, Topology
from kernbench.yaml_input import short_repr


@dataclass(frozen=True)
class PeInstall:
    """One PE's queues."""

    cube: int
    pe: int
    queues: tuple[QueueSpec, ...]


@dataclass(frozen=True)
class SipInstallPlan:
    """What rank ``rank`` (SIP ``sip``) installs and launches for one algorithm."""

    algorithm: str
    rank: int
    sip: int
    geometry: CclGeometry
    pes: tuple[tuple[int, int], ...]  # participating PEs, in launch order
    installs: tuple[PeInstall, ...]  # PEs with at least one queue

    @property
    def world_size(self) -> int:
        return self.geometry.world_size


def world_size_of(algo: AlgorithmConfig, topo: Topology) -> int:
    """Ranks of ``algo``: its ``world_size`` or every SIP; refused when there are not that many SIPs."""
    world = topo.sip_count if algo.world_size is None else algo.world_size
    if world > topo.sip_count:
        raise ValueError(
            f"ccl algorithm {algo.name!r}: world_size {world} needs {world} SIPs, the topology has "
            f"{topo.sip_count} (rank = SIP)"
        )
    return world


def build_install_plans(
    algo: AlgorithmConfig,
    topo: Topology,
    extra: tuple[tuple[str, AlgorithmConfig], ...] = (),
    members: Sequence[int] | None = None,
    leaders: Sequence[tuple[int, int]] | None = None,
) -> InstallPlans:
    """Every rank's plan for ``algo``; ``extra`` adds other algorithms' queues as ``(direction prefix, entry)``
    (the process group's ring for barrier and broadcast), with receive rings laid out after ``algo``'s.

    ``members``: the SIP of each rank, for a process group of some SIPs (default: rank r is SIP r, every one the
    algorithm's world takes); ``leaders``: each rank's PE where the algorithms that run on one PE per SIP run
    (default cube 0 PE 0; a group's collectives have a PE of their own on each member). Everything that can fail is
    checked here, for every rank; each rank's queues are laid out when first asked for, so a process builds only the
    plans of the ranks it runs (and of the peers it sends to)."""
    return InstallPlans(algo, topo, extra, members, leaders)


class InstallPlans(Sequence[SipInstallPlan]):
    """The plans of ranks ``0 .. world_size - 1``, by rank; each built on first access."""

    def __init__(
        self,
        algo: AlgorithmConfig,
        topo: Topology,
        extra: tuple[tuple[str, AlgorithmConfig], ...],
        members: Sequence[int] | None = None,
        leaders: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        self.algo, self.topo = algo, topo
        world = world_size_of(algo, topo) if members is None else len(members)
        self.geometry = CclGeometry.of(topo, world)
        self.members = tuple(range(world)) if members is None else tuple(members)
        self.leaders = tuple(leaders) if leaders is not None else ((0, 0),) * world
        self.parts = [_Part("", algo, self.geometry)] + [_Part(prefix, a, self.geometry) for prefix, a in extra]
        self.senders: dict[Node, dict[str, tuple[Node, _Part]]] = {}  # receiving PE -> direction -> (sender, part)
        for part in self.parts:
            for node, recvs in part.receivers.items():
                into = self.senders.setdefault(node, {})
                for d, sender in recvs.items():
                    if d in into:
                        raise ValueError(
                            f"ccl algorithms {into[d][1].algo.name!r} and {part.algo.name!r} "
                            f"both receive on {_name(node)} direction {d!r}"
                        )
                    into[d] = (sender, part)
        for node in sorted(self.senders):
            self._layout(node)  # rings that do not fit their region fail now, for every rank
        self._rx: dict[Node, dict[str, PhysAddr]] = {}
        self._plans: dict[int, SipInstallPlan] = {}

    def __len__(self) -> int:
        return self.geometry.world_size

    @overload
    def __getitem__(self, rank: int) -> SipInstallPlan: ...
    @overload
    def __getitem__(self, rank: slice) -> Sequence[SipInstallPlan]: ...
    def __getitem__(self, rank: int | slice) -> SipInstallPlan | Sequence[SipInstallPlan]:
        if isinstance(rank, slice):
            return [self[r] for r in range(*rank.indices(len(self)))]
        plan = self._plans.get(rank)
        if plan is None:
            if not 0 <= rank < len(self):
                raise IndexError(f"ccl algorithm {self.algo.name!r}: no rank {rank} (world size {len(self)})")
            plan = self._plans[rank] = self._build(rank)
        return plan

    def _build(self, rank: int) -> SipInstallPlan:
        queues: dict[tuple[int, int], list[QueueSpec]] = {}
        for part in self.parts:
            for cube, pe in part.pes[rank]:
                node = (rank, cube, pe)
                sends = part.edges[rank].get((cube, pe), {})
                recvs = part.receivers.get(node, {})
                for d in sorted(set(sends) | set(recvs)):
                    peer, sender = sends.get(d), recvs.get(d)
                    queues.setdefault(self._place(rank, cube, pe), []).append(
                        QueueSpec(
                            d,
                            part.algo.n_slots,
                            part.algo.slot_size,
                            send_to=None if peer is None else self._physical(peer),
                            peer_rx_base=None if peer is None else self._rx_of(peer)[part.lands[(node, d)]],
                            recv_from=None if sender is None else self._physical(sender),
                            rx_base=self._rx_of(node).get(d),
                            credit_bytes=part.algo.ipcq_credit_size_bytes,
                            backpressure=part.algo.backpressure,
                        )
                    )
        installs = tuple(PeInstall(c, p, tuple(q)) for (c, p), q in sorted(queues.items()))
        pes = tuple(self._place(rank, c, p) for c, p in self.parts[0].pes[rank])
        return SipInstallPlan(self.algo.name, rank, self.members[rank], self.geometry, pes, installs)

    def _place(self, rank: int, cube: int, pe: int) -> tuple[int, int]:
        """Where a PE of the plan runs on rank ``rank``: its leader PE for the leader of one-PE algorithms."""
        return self.leaders[rank] if (cube, pe) == (0, 0) else (cube, pe)

    def _physical(self, node: Node) -> Node:
        """A plan's (rank, cube, pe) as the (SIP, cube, pe) it runs on."""
        return (self.members[node[0]], *self._place(*node))

    def _rx_of(self, node: Node) -> dict[str, PhysAddr]:
        rx = self._rx.get(node)
        if rx is None:
            rx = self._rx[node] = {
                d: ring_region(self.topo, kind, *self._physical(node))[0].offset_by(start)
                for d, kind, start in self._layout(node)
            }
        return rx

    def _layout(self, node: Node) -> list[tuple[str, str, int]]:
        """A PE's receive rings back to back in its region of each buffer kind, parts in order, then directions:
        (direction, buffer kind, offset in the region)."""
        recvs = self.senders.get(node, {})
        order = sorted(recvs, key=lambda d: (recvs[d][1].prefix != "", recvs[d][1].prefix, d))
        layout: list[tuple[str, str, int]] = []
        used: dict[str, int] = {}
        for d in order:
            algo = recvs[d][1].algo
            size = ring_region_bytes(algo.buffer_kind)
            start = used.get(algo.buffer_kind, 0)
            end = start + algo.n_slots * algo.slot_size
            if end > size:
                raise ValueError(
                    f"ccl algorithm {algo.name!r}: the receive rings of {_name(node)} need more than its "
                    f"{size}-byte {algo.buffer_kind} ring region (each ring {algo.n_slots} x "
                    f"{algo.slot_size} bytes); lower n_slots or slot_size"
                )
            used[algo.buffer_kind] = end
            layout.append((d, algo.buffer_kind, start))
        return layout


class _Part:
    """One algorithm's edges in a plan, its directions named with ``prefix``."""

    def __init__(self, prefix: str, algo: AlgorithmConfig, geometry: CclGeometry) -> None:
        self.prefix, self.algo = prefix, algo
        mapper = resolve_mapper(algo.mapper)
        neighbors = getattr(algo.load_module(), "neighbors", None)
        ranks = range(geometry.world_size)
        self.pes = [_mapped_pes(algo.mapper, mapper(geometry, rank), rank, geometry) for rank in ranks]
        edges = [pe_edges(algo.topology, rank, geometry, self.pes[rank], neighbors) for rank in ranks]
        self.edges: list[PeEdges] = [
            {pe: {prefix + d: peer for d, peer in out.items()} for pe, out in e.items()} for e in edges
        ]
        self.lands: dict[tuple[Node, str], str] = {}  # (sending PE, direction) -> the receiver's direction
        self.receivers: dict[Node, dict[str, Node]] = {}  # receiving PE -> its direction -> the one PE sending there
        for rank, out in enumerate(self.edges):
            for (cube, pe), dirs in out.items():
                node = (rank, cube, pe)
                for d, peer in dirs.items():
                    land = self.lands[(node, d)] = self._land(d, node)
                    into = self.receivers.setdefault(peer, {})
                    if land in into:
                        raise ValueError(
                            f"ccl algorithm {algo.name!r}: {_name(into[land])} and {_name(node)} "
                            f"both send into {_name(peer)} direction {land!r}"
                        )
                    into[land] = node

    def _land(self, direction: str, sender: Node) -> str:
        """The direction of the receiver that ``sender``'s send on ``direction`` lands on."""
        if self.algo.topology in SAME_NAME_LANDING:
            return direction
        n = len(self.prefix)
        peer = self.edges[sender[0]][(sender[1], sender[2])][direction]
        back = {d[n:]: p for d, p in self.edges[peer[0]].get((peer[1], peer[2]), {}).items()}
        return self.prefix + landing_direction(direction[n:], sender, back)


def _mapped_pes(name: str, pes: object, rank: int, geometry: CclGeometry) -> tuple[tuple[int, int], ...]:
    """A mapper's answer, sorted; ValueError unless it is distinct (cube, pe) pairs of the SIP (a mapper named by
    dotted path is a user's function)."""
    items = pes if isinstance(pes, (list, tuple)) else ()
    pairs = {tuple(pe) for pe in items if isinstance(pe, (tuple, list))}
    if (
        not pairs
        or len(pairs) != len(items)
        or not all(
            len(pe) == 2
            and all(type(x) is int for x in pe)
            and 0 <= pe[0] < geometry.cubes_per_sip
            and 0 <= pe[1] < geometry.pes_per_cube
            for pe in pairs
        )
    ):
        raise ValueError(
            f"mapper {name!r}: rank {rank}: expected a non-empty list of distinct (cube, pe) pairs, "
            f"cube 0..{geometry.cubes_per_sip - 1}, pe 0..{geometry.pes_per_cube - 1}; got "
            f"{short_repr(pes)}"
        )
    return tuple(sorted(pairs))


def _name(node: Node) -> str:
    return "rank {} cube {} pe {}".format(*node)
