"""Building blocks of the IPCQ collective kernels, one implementation each.

Every tile crosses IPCQ in pieces of at most one slot (``slot_elems`` elements), so tiles of any size fit the
rings. Two traffic shapes cover the algorithms:

- trees (`tree_reduce`, `tree_broadcast`): a node combines what its children send with its own tile and passes the
  result up, then the root's result comes back down. A tree has no cycle, so blocking piece-by-piece sends cannot
  deadlock however full the rings are. A chain reduced to one end (`chain_links`), a ring reduced to one node from
  both sides (`ring_links`), the binary tree, and levels stacked with `nest` (PEs of a cube under the ring of cube
  leaders, a row of cubes under the last column) are all trees.
- ring steps (`ring_pipeline`): at each step every node of a ring sends a chunk forward while receiving one from
  behind, and what it receives at one step (combined with its own data or not) is what it sends at the next. The
  steps are pipelined piece by piece, as NCCL's ring is: sends are asynchronous (up to ``window`` pieces in flight
  ahead of the receives; with ``window <= n_slots`` no successor's ring can fill up while every node waits), and a
  piece goes on to the next step as soon as it has arrived, while the pieces behind it are still on the link.
  `ring_pass_along`, `reduce_scatter`, `all_gather` and the ring all-reduce are built on it.

Results that every rank keeps are combined in the same order on every rank (`ring_pass_along` sums by origin,
trees broadcast the root's value), so all ranks end with the same bits.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from kernbench.kernels import LoadHandle, TensorHandle, TLBase

BLOCK_BYTES = 1 << 20
"""`torch.distributed.all_reduce` runs an algorithm on a shard in blocks of at most this many bytes, one after the
other (each fits the PE's staging), unless its module says it streams the shard through memory piece by piece
(``STREAMS = True``): then in one go, as restarting per block would pay the algorithm's whole latency again for
every block."""

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
    return [tile[start : start + slot_elems] for start in range(0, tile.shape[0], slot_elems)]


def join(tl: TLBase, parts: Sequence[TensorHandle], dtype: str) -> TensorHandle:
    """Pieces back into one tile (an empty one when there are none)."""
    return tl.cat(parts) if parts else tl.zeros((0,), dtype)


def even_bounds(n: int, parts: int) -> list[int]:
    """Where ``n`` elements are cut into ``parts`` chunks whose sizes differ by at most one element (``parts + 1``
    offsets, from 0 to ``n``)."""
    return [int(b) for b in np.linspace(0, n, parts + 1).astype(int)]


def split_even(data: TensorHandle, parts: int) -> list[TensorHandle]:
    """``data`` cut into ``parts`` chunks at `even_bounds`."""
    bounds = even_bounds(data.shape[0], parts)
    return [data[bounds[i] : bounds[i + 1]] for i in range(parts)]


class Prefetch:
    """Tiles loaded ahead of use: ``plan`` lists ``(key, ptr, elements)`` in the order the kernel will ask for
    them, and `get` keeps up to ``depth`` loads in flight beyond the one it waits for, so the PE's DMA fetches
    the next tiles while the PE works on this one."""

    def __init__(self, tl: TLBase, plan: Sequence[tuple[Hashable, int, int]], dtype: str, depth: int) -> None:
        self._tl, self._plan, self._dtype, self._depth = tl, list(plan), dtype, depth
        self._index = {key: i for i, (key, _, _) in enumerate(self._plan)}
        self._loads: dict[Hashable, LoadHandle] = {}
        self._started = self._taken = 0

    def get(self, key: Hashable) -> TensorHandle:
        """The tile of ``key`` (its load and those before it started now if they were not yet)."""
        index = self._index[key]
        while self._started <= index or (
            self._started < len(self._plan) and self._started - self._taken <= self._depth
        ):
            key_, ptr, n = self._plan[self._started]
            self._loads[key_] = self._tl.load_async(ptr, (n,), self._dtype)
            self._started += 1
        self._taken += 1
        tile = self._tl.wait(self._loads.pop(key))
        assert tile is not None
        return tile


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


def ring_pipeline(
    tl: TLBase,
    lengths: Sequence[int],
    first: Callable[[int, int], TensorHandle],
    arrive: Callable[[int, int, TensorHandle], TensorHandle],
    dtype: str,
    slot_elems: int,
    window: int,
    send_dir: str = "E",
    recv_dir: str = "W",
    settle: Callable[[int, int, TensorHandle], None] | None = None,
) -> None:
    """``len(lengths) - 1`` ring steps, pipelined piece by piece (slot-size pieces of each chunk).

    Each node streams chunks ``0, 1, ...`` of ``lengths[k]`` elements: at step ``s`` it sends chunk ``s`` on
    ``send_dir`` and receives chunk ``s + 1`` from ``recv_dir`` (its predecessor's chunk ``s``, the same size).
    ``first(a, b)`` gives elements ``a:b`` of chunk 0; a piece of chunk ``k >= 1`` received at element ``a``
    becomes ``arrive(k, a, piece)`` (the algorithm's work on it: combine, store), which chunk ``k`` sends on at
    step ``k`` (the last chunk's is not sent). Sends are asynchronous and each piece goes on as soon as it has
    arrived, so the link streams while the PE works; the sends are waited for at the end. ``settle(k, a, piece)``
    does what the next step does not need (a store): right after ``arrive``, or after the send when the piece can
    go on at once, to keep it off the ring's critical path; chunk 0's pieces are settled once sent.

    ``window`` is the slots of the receiver's ring: sends run at most half of them ahead of the receives (all of
    them once every receive is done), so the other half is free for the pieces sent on as they arrive; a full ring
    would make each of those wait for a credit's round trip.
    """
    steps, ahead = len(lengths) - 1, max(1, window // 2)
    sends = [(k, a, min(a + slot_elems, lengths[k])) for k in range(steps) for a in range(0, lengths[k], slot_elems)]
    recvs = [
        (k, a, min(a + slot_elems, lengths[k])) for k in range(1, steps + 1) for a in range(0, lengths[k], slot_elems)
    ]
    ready: dict[tuple[int, int], TensorHandle] = {}  # (chunk, first element) -> the piece to send on
    unsettled: set[tuple[int, int]] = set()  # pieces to settle once sent on

    def can_send() -> bool:
        return sent < len(sends) and (sent - got < ahead or got == len(recvs))

    handles = []
    sent = got = 0
    while sent < len(sends) or got < len(recvs):
        while can_send():
            k, a, b = sends[sent]
            if k > 0 and (k, a) not in ready:
                break  # it has not arrived yet
            piece = first(a, b) if k == 0 else ready.pop((k, a))
            handles.append(tl.send_async(send_dir, piece))
            sent += 1
            if k == 0 and settle is not None:
                settle(0, a, piece)
            if (k, a) in unsettled and settle is not None:
                unsettled.remove((k, a))
                settle(k, a, piece)
        if got < len(recvs):
            k, a, b = recvs[got]
            piece = arrive(k, a, tl.recv(recv_dir, (b - a,), dtype))
            got += 1
            if k < steps:
                ready[(k, a)] = piece
            if k < steps and can_send() and sends[sent][:2] == (k, a):
                unsettled.add((k, a))  # it goes on next: settle it after, off the critical path
            elif settle is not None:
                settle(k, a, piece)
    for handle in handles:
        tl.wait(handle)


def ring_chain(
    tl: TLBase,
    chunks: Sequence[TensorHandle],
    dtype: str,
    slot_elems: int,
    window: int,
    send_dir: str,
    recv_dir: str,
    arrive: Callable[[int, int, TensorHandle], TensorHandle],
) -> list[TensorHandle]:
    """`ring_pipeline` over tiles in registers: chunk 0 is ``chunks[0]``, and chunks 1.. are returned as
    ``arrive`` made them."""
    kept: list[list[TensorHandle]] = [[] for _ in chunks]

    def keep(k: int, a: int, piece: TensorHandle) -> TensorHandle:
        kept[k].append(arrive(k, a, piece))
        return kept[k][-1]

    ring_pipeline(
        tl,
        [c.shape[0] for c in chunks],
        lambda a, b: chunks[0][a:b],
        keep,
        dtype,
        slot_elems,
        window,
        send_dir,
        recv_dir,
    )
    return [join(tl, parts, dtype) for parts in kept[1:]]


def ring_pass_along(
    tl: TLBase, acc: TensorHandle, pos: int, size: int, fwd: str, back: str, op: str, slot_elems: int, window: int
) -> TensorHandle:
    """All-reduce round a ring: ``size - 1`` steps pass every node's tile one node on, then each node combines the
    tiles in ring order (the same order everywhere, so every node gets the same bits)."""
    chain = [acc] * size  # step s receives the tile of the node s + 1 behind
    got = ring_chain(tl, chain, acc.dtype, slot_elems, window, fwd, back, lambda _k, _a, piece: piece)
    tiles = {pos: acc} | {(pos - k) % size: tile for k, tile in enumerate(got, 1)}
    combine = combiner(tl, op)
    result = tiles[0]
    for origin in range(1, size):
        result = combine(result, tiles[origin])
    return result


def line_allreduce(
    tl: TLBase,
    acc: TensorHandle,
    pos: int,
    size: int,
    fwd: str,
    back: str,
    op: str,
    wrap: bool,
    slot_elems: int,
    window: int,
) -> TensorHandle:
    """All-reduce along one line of a grid: pass-along when its ends are linked (``wrap``), else reduce to the last
    node and broadcast back (no link joins the ends)."""
    if wrap:
        return ring_pass_along(tl, acc, pos, size, fwd, back, op, slot_elems, window)
    links = chain_links(pos, size, fwd, back)
    return tree_broadcast(tl, tree_reduce(tl, acc, links, op, slot_elems), links, slot_elems)


def reduce_scatter(
    tl: TLBase,
    chunks: list[TensorHandle],
    dtype: str,
    op: str,
    world: int,
    slot_elems: int,
    window: int,
    owner_shift: int,
    east: str = "E",
    west: str = "W",
) -> list[TensorHandle]:
    """p-1 ring steps; afterwards rank r holds the complete reduction of chunk ``(r + owner_shift) % world``.
    Step s sends chunk ``(r - s + owner_shift - 1) % world`` and combines into the next one down."""
    order = [(tl.rank - k + owner_shift - 1) % world for k in range(world)]
    combine = combiner(tl, op)

    def arrive(k: int, a: int, piece: TensorHandle) -> TensorHandle:
        mine = chunks[order[k]]
        return combine(mine[a : a + piece.shape[0]], piece)

    got = ring_chain(tl, [chunks[c] for c in order], dtype, slot_elems, window, east, west, arrive)
    for c, tile in zip(order[1:], got, strict=True):
        chunks[c] = tile
    return chunks


def all_gather(
    tl: TLBase,
    chunks: list[TensorHandle],
    dtype: str,
    world: int,
    slot_elems: int,
    window: int,
    owner_shift: int,
    east: str = "E",
    west: str = "W",
) -> list[TensorHandle]:
    """p-1 ring steps from rank r owning chunk ``(r + owner_shift) % world``; afterwards every rank has all."""
    order = [(tl.rank - k + owner_shift) % world for k in range(world)]
    got = ring_chain(tl, [chunks[c] for c in order], dtype, slot_elems, window, east, west, lambda _k, _a, piece: piece)
    for c, tile in zip(order[1:], got, strict=True):
        chunks[c] = tile
    return chunks
