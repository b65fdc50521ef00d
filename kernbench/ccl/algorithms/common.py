"""Building blocks of the IPCQ collective kernels, one implementation each.

Every tile crosses IPCQ in pieces of at most one slot (``slot_elems`` elements), so tiles of any size fit the
rings. Two traffic shapes cover the algorithms:

- trees (`tree_reduce`, `tree_broadcast`): a node combines what its children send with its own tile and passes the
  result up, then the root's result comes back down. A tree has no cycle, so blocking piece-by-piece sends cannot
  deadlock however full the rings are. A chain reduced to one end (`chain_links`), a ring reduced to one node from
  both sides (`ring_links`), the binary tree, and levels stacked with `nest` (PEs of a cube under the ring of cube
  leaders, a row of cubes under the last column) are all trees.
- ring steps (`exchange`): every node of a ring sends a tile forward while receiving one from behind, at most
  ``window`` pieces ahead of its receives; with ``window <= n_slots`` no successor's ring can fill up while every
  node waits. `ring_pass_along`, `reduce_scatter` and `all_gather` are built on it.

Results that every rank keeps are combined in the same order on every rank (`ring_pass_along` sums by origin,
trees broadcast the root's value), so all ranks end with the same bits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from kernbench.kernels import TensorHandle, TLBase

REDUCE_OPS = ("sum", "max", "min", "avg")
"""Reduction operators; ``avg`` sums, then divides by the number of contributions."""

Links = tuple[str | None, list[str]]
"""A node's place in a tree: the direction toward the root (None at the root), the directions children send on."""


def combiner(tl: TLBase, op: str) -> Callable[[TensorHandle, TensorHandle], TensorHandle]:
    """The elementwise operation that combines two partial results of ``op``."""
    if op not in REDUCE_OPS:
        raise ValueError(f"reduce op must be one of {', '.join(REDUCE_OPS)}, got {op!r}")
    return {"sum": tl.add, "avg": tl.add, "max": tl.maximum, "min": tl.minimum}[op]


def finalize(data: TensorHandle, op: str, contributors: int) -> TensorHandle:
    """The all-reduce result from the combination of ``contributors`` tiles (``avg`` divides here, once)."""
    return data * (1.0 / contributors) if op == "avg" else data


def pieces(tile: TensorHandle, slot_elems: int) -> list[TensorHandle]:
    """``tile`` (1D) cut into slot-size pieces."""
    return [tile[start:start + slot_elems] for start in range(0, tile.shape[0], slot_elems)]


def join(tl: TLBase, parts: Sequence[TensorHandle], dtype: str) -> TensorHandle:
    """Pieces back into one tile (an empty one when there are none)."""
    return tl.cat(parts) if parts else tl.zeros((0,), dtype)


def split_even(data: TensorHandle, parts: int) -> list[TensorHandle]:
    """``data`` cut into ``parts`` chunks whose sizes differ by at most one element."""
    bounds = np.linspace(0, data.shape[0], parts + 1).astype(int)
    return [data[int(bounds[i]):int(bounds[i + 1])] for i in range(parts)]


# -- trees --------------------------------------------------------------------------------------------------------


def tree_reduce(tl: TLBase, acc: TensorHandle, links: Links, op: str, slot_elems: int) -> TensorHandle:
    """Combine ``acc`` with the children's results and send the combination up, a piece at a time; returns the
    combination of this node's subtree (the whole tree's at the root)."""
    up, down = links
    combine = combiner(tl, op)
    out = []
    for piece in pieces(acc, slot_elems):
        for direction in down:
            piece = combine(piece, tl.recv(direction, piece.shape, piece.dtype))
        if up is not None:
            tl.send(up, piece)
        out.append(piece)
    return join(tl, out, acc.dtype)


def tree_broadcast(tl: TLBase, acc: TensorHandle, links: Links, slot_elems: int) -> TensorHandle:
    """The root's ``acc`` on every node of the tree: received from up (a tile shaped like ``acc``) and passed on to
    the children, a piece at a time."""
    up, down = links
    out = []
    for piece in pieces(acc, slot_elems):
        if up is not None:
            piece = tl.recv(up, piece.shape, piece.dtype)
        for direction in down:
            tl.send(direction, piece)
        out.append(piece)
    return join(tl, out, acc.dtype)


def chain_links(pos: int, size: int, fwd: str, back: str, root: int | None = None) -> Links:
    """A line of ``size`` nodes (``fwd`` toward the next) as a tree rooted at node ``root`` (default: the last):
    the nodes before it reduce forward, the nodes after it backward."""
    root = size - 1 if root is None else root
    if pos < root:
        return fwd, ([back] if pos > 0 else [])
    if pos > root:
        return back, ([fwd] if pos < size - 1 else [])
    return None, ([back] if pos > 0 else []) + ([fwd] if pos < size - 1 else [])


def ring_links(pos: int, size: int, fwd: str, back: str) -> Links:
    """A ring of ``size`` nodes (``fwd`` to the next, wrapping) as a tree rooted at node 0 with two arms: nodes
    ``1 .. size // 2`` reduce backward to it, the others forward round the wrap, so the depth is about size / 2."""
    half = size // 2
    if pos == 0:
        return None, ([fwd] if half >= 1 else []) + ([back] if size - 1 > half else [])
    if pos <= half:
        return back, ([fwd] if pos < half else [])
    return fwd, ([back] if pos > half + 1 else [])


def nest(inner: Links, outer: Links) -> Links:
    """Two levels as one tree: a node of the ``inner`` tree whose root also stands in the ``outer`` tree (a cube's
    leader in the ring of cube leaders) takes its outer place, adding the outer children to its inner ones."""
    up, down = inner
    return inner if up is not None else (outer[0], down + outer[1])


# -- rings --------------------------------------------------------------------------------------------------------


def exchange(tl: TLBase, out: TensorHandle, n_in: int, dtype: str, slot_elems: int, window: int,
             send_dir: str = "E", recv_dir: str = "W") -> TensorHandle:
    """Send ``out`` on ``send_dir`` and receive ``n_in`` elements from ``recv_dir``, a slot at a time.

    Up to ``window`` pieces are sent ahead of the receives (the peer's ring has that many slots), so the pieces of
    one step stream back to back over the link instead of paying its latency each.
    """
    outs = pieces(out, slot_elems)
    sizes = [min(slot_elems, n_in - start) for start in range(0, n_in, slot_elems)]
    got: list[TensorHandle] = []
    sent = 0
    while sent < len(outs) or len(got) < len(sizes):
        while sent < len(outs) and (sent - len(got) < window or len(got) == len(sizes)):
            tl.send(send_dir, outs[sent])
            sent += 1
        if len(got) < len(sizes):
            got.append(tl.recv(recv_dir, (sizes[len(got)],), dtype))
    return join(tl, got, dtype)


def ring_pass_along(tl: TLBase, acc: TensorHandle, pos: int, size: int, fwd: str, back: str, op: str,
                    slot_elems: int, window: int) -> TensorHandle:
    """All-reduce round a ring: ``size - 1`` steps pass every node's tile one node on, then each node combines the
    tiles in ring order (the same order everywhere, so every node gets the same bits)."""
    tiles = {pos: acc}
    current = acc
    for step in range(1, size):
        current = exchange(tl, current, acc.shape[0], acc.dtype, slot_elems, window, fwd, back)
        tiles[(pos - step) % size] = current
    combine = combiner(tl, op)
    result = tiles[0]
    for origin in range(1, size):
        result = combine(result, tiles[origin])
    return result


def line_allreduce(tl: TLBase, acc: TensorHandle, pos: int, size: int, fwd: str, back: str, op: str, wrap: bool,
                   slot_elems: int, window: int) -> TensorHandle:
    """All-reduce along one line of a grid: pass-along when its ends are linked (``wrap``), else reduce to the last
    node and broadcast back (no link joins the ends)."""
    if wrap:
        return ring_pass_along(tl, acc, pos, size, fwd, back, op, slot_elems, window)
    links = chain_links(pos, size, fwd, back)
    return tree_broadcast(tl, tree_reduce(tl, acc, links, op, slot_elems), links, slot_elems)


def reduce_scatter(tl: TLBase, chunks: list[TensorHandle], dtype: str, op: str, world: int, slot_elems: int,
                   window: int, owner_shift: int, east: str = "E", west: str = "W") -> list[TensorHandle]:
    """p-1 ring steps; afterwards rank r holds the complete reduction of chunk ``(r + owner_shift) % world``."""
    rank = tl.rank
    combine = combiner(tl, op)
    for step in range(world - 1):
        send = (rank - step + owner_shift - 1) % world
        recv = (rank - step + owner_shift - 2) % world
        got = exchange(tl, chunks[send], chunks[recv].shape[0], dtype, slot_elems, window, east, west)
        chunks[recv] = combine(chunks[recv], got)
    return chunks


def all_gather(tl: TLBase, chunks: list[TensorHandle], dtype: str, world: int, slot_elems: int, window: int,
               owner_shift: int, east: str = "E", west: str = "W") -> list[TensorHandle]:
    """p-1 ring steps from rank r owning chunk ``(r + owner_shift) % world``; afterwards every rank has all."""
    rank = tl.rank
    for step in range(world - 1):
        send = (rank - step + owner_shift) % world
        recv = (rank - step + owner_shift - 1) % world
        chunks[recv] = exchange(tl, chunks[send], chunks[recv].shape[0], dtype, slot_elems, window, east, west)
    return chunks
