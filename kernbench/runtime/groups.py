"""Process groups: which SIPs run a group's collectives together, and on which PEs (rank = SIP).

As in ``torch.distributed``, every rank calls ``new_group`` for every group, in the same order: a group's id is
its place in that order, the same on every rank, and a rank outside a group gets a handle it cannot run that
group's collectives with. The world group (id 0) runs on each SIP's leader PE (cube 0, PE 0). Each other group a
SIP belongs to gets two PEs of its own on the SIP's IO-edge cubes (nearest the SerDes ports): one for its
collectives, one for its point-to-point traffic and all-to-all. So collectives of different groups can be in
flight at once, and those of one group run one after the other (a stream per group and PE, as NCCL's). Which PEs
a member gives a group follows from the group list alone (its place among the member's groups), so every rank
finds its peers' receive rings without asking them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kernbench.topology import Topology, io_attached_cubes

Pe = tuple[int, int]


class GroupError(ValueError):
    """A process group used wrongly: by a rank outside it, created differently by two ranks, too many for a SIP."""


@dataclass(frozen=True, eq=False)
class ProcessGroup:
    """A set of ranks (SIPs) that run collectives together (``torch.distributed.ProcessGroup``).

    ``ranks``: the members' global ranks, in group-rank order; ``gid``: 0 for the world group."""

    gid: int
    ranks: tuple[int, ...]

    def size(self) -> int:
        return len(self.ranks)

    def rank_of(self, sip: int) -> int:
        """``sip``'s rank in the group, or -1 when it is not a member (as ``dist.get_rank(group)``)."""
        return self.ranks.index(sip) if sip in self.ranks else -1

    def __repr__(self) -> str:
        members = ", ".join(map(str, self.ranks[:8])) + (", ..." if len(self.ranks) > 8 else "")
        return f"ProcessGroup({self.gid}: ranks [{members}])"


class GroupTable:
    """The groups created so far, the same on every rank, and the PEs each member gives them.

    ``sips``: the world's SIP of each rank (a what-if scenario's job; default rank = SIP). Groups hold SIPs: the
    ranks ``create`` is given are world ranks."""

    def __init__(self, topo: Topology, world: int, sips: Sequence[int] | None = None) -> None:
        self.world = world
        self.sips = tuple(range(world)) if sips is None else tuple(sips)
        self.groups: list[ProcessGroup] = [ProcessGroup(0, self.sips)]
        edge = io_attached_cubes(topo.sip)
        self._spare: list[Pe] = [(c, p) for c in edge for p in range(topo.pes_per_cube) if (c, p) != (0, 0)]
        self._memberships: dict[int, list[int]] = {}  # sip -> ids of the groups (beyond the world) it is in

    @property
    def world_group(self) -> ProcessGroup:
        return self.groups[0]

    def create(self, index: int, ranks: Sequence[int] | None, caller: int) -> ProcessGroup:
        """The ``index``-th group rank ``caller`` creates (its ``index``-th ``new_group`` call), checked against
        the one other ranks of this process created at that place."""
        members = tuple(range(self.world)) if ranks is None else tuple(ranks)
        bad = [r for r in members if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r < self.world]
        if bad or not members or len(set(members)) != len(members):
            raise GroupError(
                f"new_group: ranks must be distinct ranks 0..{self.world - 1}, got {list(members)[:16]}"
                + (" ..." if len(members) > 16 else "")
            )
        members = tuple(self.sips[r] for r in members)
        gid = index + 1
        if gid < len(self.groups):
            made = self.groups[gid]
            if made.ranks != members:
                raise GroupError(
                    f"new_group: rank {caller} created group {gid} with ranks {list(members)}, another rank "
                    f"created it with {list(made.ranks)}: every rank must call new_group for every group, in "
                    "the same order"
                )
            return made
        if gid != len(self.groups):
            raise GroupError(f"new_group: rank {caller} skipped groups ({gid} after {len(self.groups) - 1})")
        group = ProcessGroup(gid, members)
        self.groups.append(group)
        for sip in members:
            self._memberships.setdefault(sip, []).append(gid)
        return group

    def collective_pe(self, group: ProcessGroup, sip: int) -> Pe:
        """Where ``sip`` runs ``group``'s collectives."""
        return (0, 0) if group.gid == 0 else self._slot(group, sip, 1)

    def p2p_pe(self, group: ProcessGroup, sip: int) -> Pe:
        """Where ``sip`` runs ``group``'s point-to-point traffic and all-to-all."""
        return self._spare[0] if group.gid == 0 else self._slot(group, sip, 2)

    def _slot(self, group: ProcessGroup, sip: int, which: int) -> Pe:
        place = self._memberships[sip].index(group.gid)
        index = which + 2 * place
        if index >= len(self._spare):
            most = (len(self._spare) - 1) // 2
            raise GroupError(
                f"sip{sip} is in more than {most} process groups besides the world: each takes two PEs of the "
                f"SIP's IO-edge cubes ({len(self._spare) + 1} PEs)"
            )
        return self._spare[index]
