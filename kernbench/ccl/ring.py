"""Ring collectives across SIPs: all-reduce (reduce-scatter then all-gather, ``2(p-1)`` steps of ``n/p``
elements), reduce-scatter, all-gather and broadcast.

Ranks are SIPs; each SIP's leader PE (cube 0, PE 0) holds the rank's data and talks to its ring neighbours over
IPCQ: ``E`` to rank ``r+1``, ``W`` to rank ``r-1``. Receive rings sit at fixed addresses in the leader's TCM ring
area (`kernbench.engine.ipcq.ring_area`), so every rank computes every plan without asking its peers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernbench.engine import QueueSpec
from kernbench.engine.ipcq import RING_AREA, ring_area
from kernbench.kernels import TL, TensorHandle
from kernbench.topology import PhysAddr, Topology

LEADER = (0, 0)
"""(cube, pe) of the PE that runs a SIP's part of a collective."""
RING_DIRECTIONS = ("E", "W")
OPPOSITE = {"E": "W", "W": "E"}
REDUCE_OPS = ("sum", "max", "min", "avg")


def ring_queues(topo: Topology, sip: int, world: int, n_slots: int, slot_size: int) -> tuple[QueueSpec, ...]:
    """Rank ``sip``'s queue pairs in a ring of ``world`` ranks (none for a ring of one)."""
    if world < 2:
        return ()
    ring_bytes = n_slots * slot_size
    if len(RING_DIRECTIONS) * ring_bytes > RING_AREA:
        raise ValueError(f"IPCQ rings of {n_slots} x {slot_size} bytes per direction exceed the {RING_AREA}-byte "
                         "TCM ring area")

    def rx(rank: int, direction: str) -> PhysAddr:
        base = ring_area(topo, rank, *LEADER)
        return PhysAddr.tcm(rank, *LEADER, base.offset + RING_DIRECTIONS.index(direction) * ring_bytes)

    peers = {"E": (sip + 1) % world, "W": (sip - 1) % world}
    return tuple(QueueSpec(d, (peers[d], *LEADER), rx(sip, d), rx(peers[d], OPPOSITE[d]), n_slots, slot_size)
                 for d in RING_DIRECTIONS)


def ring_allreduce_kernel(ptr: int, n_elem: int, dtype: str, op: str, world: int, slot_elems: int, window: int,
                          tl: TL) -> None:
    """All-reduce ``n_elem`` values of ``dtype`` at ``ptr`` (this rank's leader PE) in place, with ``op``."""
    chunks = _chunks(tl.load(ptr, (n_elem,), dtype), world)
    chunks = _reduce_scatter(tl, chunks, dtype, op, world, slot_elems, window, owner_shift=1)
    chunks = _all_gather(tl, chunks, dtype, world, slot_elems, window, owner_shift=1)
    data = _concat(tl, chunks, dtype)
    if op == "avg":
        data = data * (1.0 / world)
    tl.store(ptr, data, dtype)


def ring_reduce_scatter_kernel(out_ptr: int, in_ptr: int, n_out: int, dtype: str, op: str, world: int,
                               slot_elems: int, window: int, tl: TL) -> None:
    """Rank r gets chunk r of the reduction of every rank's ``world * n_out`` input values."""
    chunks = _chunks(tl.load(in_ptr, (world * n_out,), dtype), world)
    chunks = _reduce_scatter(tl, chunks, dtype, op, world, slot_elems, window, owner_shift=0)
    mine = chunks[tl.ctx.sip]
    tl.store(out_ptr, mine * (1.0 / world) if op == "avg" else mine, dtype)


def ring_all_gather_kernel(out_ptr: int, in_ptr: int, n_in: int, dtype: str, world: int, slot_elems: int,
                           window: int, tl: TL) -> None:
    """Every rank gets the ``n_in`` values of every rank, in rank order, at ``out_ptr``."""
    mine = tl.load(in_ptr, (n_in,), dtype)
    chunks = [mine if r == tl.ctx.sip else TensorHandle(tl, np.zeros(n_in, mine.value.dtype), dtype)
              for r in range(world)]
    chunks = _all_gather(tl, chunks, dtype, world, slot_elems, window, owner_shift=0)
    tl.store(out_ptr, _concat(tl, chunks, dtype), dtype)


def ring_broadcast_kernel(ptr: int, n_elem: int, dtype: str, root: int, world: int, slot_elems: int, window: int,
                          tl: TL) -> None:
    """Every rank gets the root's ``n_elem`` values: passed east round the ring, piece by piece."""
    rank = tl.ctx.sip
    hops = (rank - root) % world  # how far east of the root this rank is
    if hops == 0:
        data = tl.load(ptr, (n_elem,), dtype)
        for start in range(0, n_elem, slot_elems):
            tl.send("E", data[start:start + slot_elems])
        return
    pieces = []
    for start in range(0, n_elem, slot_elems):
        piece = tl.recv("W", (min(slot_elems, n_elem - start),), dtype)
        if hops < world - 1:
            tl.send("E", piece)
        pieces.append(piece)
    tl.store(ptr, _concat(tl, pieces, dtype), dtype)


def _chunks(data: TensorHandle, world: int) -> list[TensorHandle]:
    bounds = np.linspace(0, data.shape[0], world + 1).astype(int)
    return [data[int(bounds[i]):int(bounds[i + 1])] for i in range(world)]


def _reduce_scatter(tl: TL, chunks: list[TensorHandle], dtype: str, op: str, world: int, slot_elems: int,
                    window: int, owner_shift: int) -> list[TensorHandle]:
    """p-1 steps; afterwards rank r holds the complete reduction of chunk ``(r + owner_shift) % world``."""
    rank = tl.ctx.sip
    combine = {"sum": tl.add, "avg": tl.add, "max": tl.maximum, "min": tl.minimum}[op]
    for step in range(world - 1):
        send = (rank - step + owner_shift - 1) % world
        recv = (rank - step + owner_shift - 2) % world
        got = _exchange(tl, chunks[send], chunks[recv].shape[0], dtype, slot_elems, window)
        chunks[recv] = combine(chunks[recv], got)
    return chunks


def _all_gather(tl: TL, chunks: list[TensorHandle], dtype: str, world: int, slot_elems: int, window: int,
                owner_shift: int) -> list[TensorHandle]:
    """p-1 steps starting from rank r owning chunk ``(r + owner_shift) % world``; afterwards every rank has all."""
    rank = tl.ctx.sip
    for step in range(world - 1):
        send = (rank - step + owner_shift) % world
        recv = (rank - step + owner_shift - 1) % world
        chunks[recv] = _exchange(tl, chunks[send], chunks[recv].shape[0], dtype, slot_elems, window)
    return chunks


def _exchange(tl: TL, out: TensorHandle, n_in: int, dtype: str, slot_elems: int, window: int) -> TensorHandle:
    """Send ``out`` east and receive ``n_in`` elements from the west, a slot at a time.

    Up to ``window`` pieces are sent ahead of the receives (the peer's ring has that many slots), so the pieces of
    one step stream back to back over the link instead of paying its latency each.
    """
    outs = [out[start:start + slot_elems] for start in range(0, out.shape[0], slot_elems)]
    sizes = [min(slot_elems, n_in - start) for start in range(0, n_in, slot_elems)]
    got: list[Any] = []
    sent = 0
    while sent < len(outs) or len(got) < len(sizes):
        while sent < len(outs) and sent - len(got) < window:
            tl.send("E", outs[sent])
            sent += 1
        if len(got) < len(sizes):
            got.append(tl.recv("W", (sizes[len(got)],), dtype).value)
    return TensorHandle(tl, np.concatenate(got) if got else np.zeros(0, out.value.dtype), dtype)


def _concat(tl: TL, chunks: list[TensorHandle], dtype: str) -> TensorHandle:
    return TensorHandle(tl, np.concatenate([c.value for c in chunks]), dtype)
