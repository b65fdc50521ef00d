"""A workload: the rank files of a Chakra trace set, read and checked against each other and the system's ranks.

``PREFIX.<rank>.et`` is rank ``rank``'s trace (ASTRA-sim's naming), run on SIP ``rank``; the set must hold exactly
one file per rank of the system. Replicated (``--chakra-replicate``), ``PREFIX.0.et`` alone runs on every SIP: its
collectives span every rank (``pg_name`` is not read) and its point-to-point peers are rank offsets (``comm_dst 1``
is the next rank, ``comm_src -1`` the previous one, modulo the system's ranks). Every check that can be made
before the simulation is made here (`kernbench.chakra.graph`, `kernbench.chakra.agree`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kernbench.chakra.agree import RankTrace, check_collectives, check_messages, check_offsets, group_members
from kernbench.chakra.errors import ChakraError
from kernbench.chakra.graph import check_graph
from kernbench.chakra.nodes import TraceNode, decode
from kernbench.chakra.stream import read_messages


@dataclass(frozen=True)
class Workload:
    """The traces of ``world`` ranks: one per rank, or one for every rank (``replicated``). ``groups``: the process
    groups beyond the world, (``pg_name``, member ranks), in the order every rank creates them."""

    prefix: str
    world: int
    traces: tuple[RankTrace, ...]
    replicated: bool
    groups: tuple[tuple[str, tuple[int, ...]], ...]

    def trace(self, rank: int) -> RankTrace:
        return self.traces[0 if self.replicated else rank]

    def peer(self, rank: int, node: TraceNode) -> int:
        """The global rank a point-to-point node of rank ``rank`` talks to."""
        return (rank + node.peer) % self.world if self.replicated else node.peer

    def group(self, node: TraceNode) -> str:
        """The process group a collective runs on ("" for the world)."""
        return "" if self.replicated else node.group


def rank_path(prefix: str, rank: int) -> Path:
    return Path(f"{prefix}.{rank}.et")


def read_trace(path: Path, rank: int) -> RankTrace:
    """One file, its nodes decoded and its graph checked, in node id order."""
    _, messages = read_messages(path)
    nodes = sorted((decode(m, str(path)) for m in messages), key=lambda n: n.id)
    check_graph(nodes, str(path))
    return RankTrace(rank, str(path), tuple(nodes))


def rank_files(prefix: str) -> list[int]:
    """The ranks that have a file ``PREFIX.<rank>.et``, sorted."""
    base = Path(prefix)
    pattern = re.compile(re.escape(base.name) + r"\.(\d+)\.et")
    folder = base.parent
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := pattern.fullmatch(p.name)))


def load_workload(prefix: str, world: int, replicated: bool = False) -> Workload:
    """The workload of ``PREFIX`` on ``world`` ranks; a `ChakraError` for a missing or extra rank file, a file that
    is no Chakra trace, a node the feeder cannot run, or ranks that disagree."""
    if replicated:
        path = rank_path(prefix, 0)
        if not path.is_file():
            raise ChakraError(str(path), None, "no such file: --chakra-replicate runs PREFIX.0.et on every SIP")
        trace = read_trace(path, 0)
        check_offsets(trace, world)
        return Workload(prefix, world, (trace,), True, ())
    found = rank_files(prefix)
    gap = next((r for r in range(max(found, default=-1) + 1) if r not in found), None)
    if not found or gap is not None:
        lost = 0 if gap is None else gap
        raise ChakraError(
            str(rank_path(prefix, lost)),
            None,
            "no such rank file (rank r's trace is PREFIX.r.et, run on SIP r)"
            + (f"; the set has ranks up to {found[-1]}" if found else ""),
        )
    if len(found) != world:
        raise ChakraError(
            f"{prefix}.{{0..{len(found) - 1}}}.et",
            None,
            f"{len(found)} rank files for a system of {world} ranks: give --sips {len(found)} (rank r runs on SIP r), "
            "or --chakra-replicate to run PREFIX.0.et on every SIP",
        )
    traces = tuple(read_trace(rank_path(prefix, r), r) for r in range(world))
    check_collectives(traces)
    check_messages(traces, world)
    members = group_members(traces)
    order = sorted(members, key=lambda g: (0, int(g), g) if g.isdigit() else (1, 0, g))
    return Workload(prefix, world, traces, False, tuple((g, members[g]) for g in order))
