"""One rank's dependency graph, checked before anything runs: ids, dependencies, cycles, and the order of streams.

The feeder issues a node once all its parents are done (ASTRA-sim's rule) and, on top of that, runs a process group's
collectives in node id order and a pair of ranks' messages in node id order (so every rank issues the same
sequence, as NCCL needs). Those orders are edges too: a collective that depends on a later one of its own group
could never start. Every such trace is refused here, naming the file and a node, instead of hanging the simulation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kernbench.chakra.errors import ChakraError
from kernbench.chakra.nodes import TraceNode

Edge = tuple[int, int, str]
"""(node, the node it must wait for, why) where why is "" for a dependency of the trace."""


def check_ids(nodes: Sequence[TraceNode], path: str) -> dict[int, TraceNode]:
    """Node id -> node; a `ChakraError` for an id used twice or a dependency on a node the file does not have."""
    by_id: dict[int, TraceNode] = {}
    for node in nodes:
        if node.id in by_id:
            raise ChakraError(path, node.id, f"the id is used by two nodes ({by_id[node.id].name!r}, {node.name!r})")
        by_id[node.id] = node
    for node in nodes:
        for dep in node.deps:
            if dep not in by_id:
                raise ChakraError(path, node.id, f"depends on node {dep}, which the trace does not have")
            if dep == node.id:
                raise ChakraError(path, node.id, "depends on itself")
    return by_id


def stream_edges(nodes: Sequence[TraceNode]) -> list[Edge]:
    """The order the feeder adds: each collective after the previous one of its group, each send (receive) after
    the previous send to (receive from) the same peer; nodes in id order."""
    last: dict[tuple, TraceNode] = {}
    edges: list[Edge] = []
    for node in sorted(nodes, key=lambda n: n.id):
        if node.kind == "collective":
            key: tuple = ("collective", node.group)
            why = f"the collectives of group {node.group or 'world'!r} run in node id order"
        elif node.kind in ("send", "recv"):
            key = (node.kind, node.peer)
            why = f"{node.kind}s {'to' if node.kind == 'send' else 'from'} rank {node.peer} run in node id order"
        else:
            continue
        before = last.get(key)
        if before is not None:
            edges.append((node.id, before.id, why))
        last[key] = node
    return edges


def check_acyclic(by_id: dict[int, TraceNode], extra: Iterable[Edge], path: str) -> None:
    """A `ChakraError` naming a cycle of the dependencies plus ``extra`` edges, if there is one."""
    parents: dict[int, list[tuple[int, str]]] = {i: [(d, "") for d in n.deps] for i, n in by_id.items()}
    for node, before, why in extra:
        parents[node].append((before, why))
    waiting = {i: len(p) for i, p in parents.items()}
    children: dict[int, list[int]] = {i: [] for i in by_id}
    for i, ps in parents.items():
        for p, _ in ps:
            children[p].append(i)
    ready = [i for i, n in waiting.items() if n == 0]
    while ready:
        for child in children[ready.pop()]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    stuck = {i for i, n in waiting.items() if n}
    if not stuck:
        return
    # every stuck node waits for a stuck parent: walk parents until a node repeats
    here = min(stuck)
    seen: dict[int, int] = {}
    walk: list[Edge] = []
    while here not in seen:
        seen[here] = len(walk)
        parent, why = next((p, w) for p, w in sorted(parents[here]) if p in stuck)
        walk.append((here, parent, why))
        here = parent
    cycle = walk[seen[here] :]
    start = min(cycle)[0]
    turn = next(i for i, step in enumerate(cycle) if step[0] == start)
    cycle = cycle[turn:] + cycle[:turn]
    chain = " -> ".join(f"node {a}" for a, _, _ in cycle) + f" -> node {start}"
    reasons = sorted({why for _, _, why in cycle if why})
    detail = f"dependency cycle: {chain} (each waits for the next)"
    if reasons:
        detail += "; the cycle goes through the feeder's order: " + "; ".join(reasons)
    raise ChakraError(path, start, detail)


def check_graph(nodes: Sequence[TraceNode], path: str) -> None:
    """Everything about one rank's graph: ids, dependencies, cycles (the trace's own, then with the streams')."""
    by_id = check_ids(nodes, path)
    check_acyclic(by_id, (), path)
    check_acyclic(by_id, stream_edges(nodes), path)
