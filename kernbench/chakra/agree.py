"""What the ranks' traces must agree on, checked before anything runs: each process group's collectives (the same
ops of the same sizes in the same order on every member) and each pair's messages (every send has its receive, of
the same size and tag, in the same order). Ranks that disagree would hang or fail deep inside a collective; here
they are one line naming the file and the node that has no counterpart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kernbench.chakra.errors import ChakraError
from kernbench.chakra.nodes import TraceNode


@dataclass(frozen=True)
class RankTrace:
    """Rank ``rank``'s trace, read from ``path``, its nodes in id order."""

    rank: int
    path: str
    nodes: tuple[TraceNode, ...]


def _what(node: TraceNode) -> str:
    return f"{node.op} of {node.size:,} bytes" if node.op != "barrier" else "barrier"


def group_members(traces: Sequence[RankTrace]) -> dict[str, tuple[int, ...]]:
    """Every process group the traces name (``pg_name``) beyond the world, with the ranks whose traces use it."""
    members: dict[str, set[int]] = {}
    for t in traces:
        for node in t.nodes:
            if node.kind == "collective" and node.group:
                members.setdefault(node.group, set()).add(t.rank)
    return {g: tuple(sorted(m)) for g, m in members.items()}


def check_collectives(traces: Sequence[RankTrace]) -> None:
    """Every member of a group issues the same collectives on it, in node id order, as its lowest rank."""
    by_group: dict[str, dict[int, list[TraceNode]]] = {}
    for t in traces:
        for node in t.nodes:
            if node.kind == "collective":
                by_group.setdefault(node.group, {}).setdefault(t.rank, []).append(node)
    paths = {t.rank: t.path for t in traces}
    for group, per_rank in by_group.items():
        ranks = range(len(traces)) if group == "" else sorted(per_rank)
        name = repr(group or "world")
        first = ranks[0]
        ref = per_rank.get(first, [])
        for rank in ranks[1:]:
            mine = per_rank.get(rank, [])
            for k, (a, b) in enumerate(zip(ref, mine, strict=False)):
                if (a.op, a.size) != (b.op, b.size):
                    raise ChakraError(
                        paths[rank],
                        b.id,
                        f"{_what(b)} is collective #{k + 1} of group {name} here, but {paths[first]} node {a.id} "
                        f"(its #{k + 1}) is {_what(a)}: the ranks of a group must issue the same collectives in the "
                        "same order",
                    )
            if len(ref) != len(mine):
                longer, other = (rank, first) if len(mine) > len(ref) else (first, rank)
                extra = per_rank[longer][min(len(ref), len(mine))]
                raise ChakraError(
                    paths[longer],
                    extra.id,
                    f"{_what(extra)} is collective #{min(len(ref), len(mine)) + 1} of group {name}, which "
                    f"{paths[other]} does not have (it has {count(min(len(ref), len(mine)))} on the group)",
                )


def count(n: int) -> str:
    return f"{n} collective" + ("" if n == 1 else "s")


Message = tuple[RankTrace, TraceNode]


def check_messages(traces: Sequence[RankTrace], world: int) -> None:
    """Rank ``s``'s k-th send to ``d`` and ``d``'s k-th receive from ``s`` have the same size and tag, and none is
    left over; every peer is another rank of the world."""
    sends: dict[tuple[int, int], list[Message]] = {}
    recvs: dict[tuple[int, int], list[Message]] = {}
    for t in traces:
        for node in t.nodes:
            if node.kind in ("send", "recv"):
                if not 0 <= node.peer < world or node.peer == t.rank:
                    raise ChakraError(t.path, node.id, f"{_direction(node)}: expected another rank of 0..{world - 1}")
                table, pair = (sends, (t.rank, node.peer)) if node.kind == "send" else (recvs, (node.peer, t.rank))
                table.setdefault(pair, []).append((t, node))
    for pair in sorted(sends.keys() | recvs.keys()):
        _match(sends.get(pair, []), recvs.get(pair, []))


def check_offsets(trace: RankTrace, world: int) -> None:
    """The same for one trace that every rank runs, its peers rank offsets: a send to ``r + o`` meets the receive
    of rank ``r + o`` from offset ``-o``, so the sends at offset ``o`` match the receives at offset ``-o``."""
    sends: dict[int, list[Message]] = {}
    recvs: dict[int, list[Message]] = {}
    for node in trace.nodes:
        if node.kind in ("send", "recv"):
            if node.peer % world == 0:
                raise ChakraError(
                    trace.path,
                    node.id,
                    f"{_direction(node)}: an offset that is a multiple of {world} is the rank itself",
                )
            table, key = (sends, node.peer % world) if node.kind == "send" else (recvs, -node.peer % world)
            table.setdefault(key, []).append((trace, node))
    for key in sorted(sends.keys() | recvs.keys()):
        _match(sends.get(key, []), recvs.get(key, []))


def _direction(node: TraceNode) -> str:
    return f"{node.kind} {'to' if node.kind == 'send' else 'from'} rank {node.peer}"


def _match(sends: list[Message], recvs: list[Message]) -> None:
    """The k-th send with the k-th receive of one pair, in order."""
    for k, ((ts, s), (tr, r)) in enumerate(zip(sends, recvs, strict=False)):
        if (s.size, s.tag) != (r.size, r.tag):
            raise ChakraError(
                tr.path,
                r.id,
                f"receive #{k + 1} ({_direction(r)}) expects {r.size:,} bytes with tag {r.tag}, but {ts.path} node "
                f"{s.id} (its send #{k + 1}, {_direction(s)}) sends {s.size:,} bytes with tag {s.tag}",
            )
    if len(sends) != len(recvs):
        t, node = (sends if len(sends) > len(recvs) else recvs)[min(len(sends), len(recvs))]
        other = "receive" if node.kind == "send" else "send"
        raise ChakraError(
            t.path,
            node.id,
            f"{_direction(node)} (#{min(len(sends), len(recvs)) + 1} of the pair) has no matching {other}",
        )
