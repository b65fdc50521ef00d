"""The ring all-reduce across SIPs: reduce-scatter then all-gather, ``2(p-1)`` steps of ``n/p`` elements.

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
    rank = tl.ctx.sip
    data = tl.load(ptr, (n_elem,), dtype)
    if world > 1:
        bounds = np.linspace(0, n_elem, world + 1).astype(int)
        chunks = [data[int(bounds[i]):int(bounds[i + 1])] for i in range(world)]
        combine = {"sum": tl.add, "avg": tl.add, "max": tl.maximum, "min": tl.minimum}[op]
        for step in range(world - 1):  # reduce-scatter: chunk (rank + 1) ends complete here
            send, recv = (rank - step) % world, (rank - step - 1) % world
            chunks[recv] = combine(chunks[recv], _exchange(tl, chunks[send], chunks[recv].shape[0], dtype,
                                                           slot_elems, window))
        for step in range(world - 1):  # all-gather: pass the complete chunks on
            send, recv = (rank - step + 1) % world, (rank - step) % world
            chunks[recv] = _exchange(tl, chunks[send], chunks[recv].shape[0], dtype, slot_elems, window)
        data = _concat(tl, chunks, dtype)
    if op == "avg":
        data = data * (1.0 / world)
    tl.store(ptr, data, dtype)


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
