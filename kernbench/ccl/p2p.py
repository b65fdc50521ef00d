"""Point-to-point messages and all-to-all between the members of a process group, over IPCQ.

Each member runs its group's point-to-point traffic on a PE of its own (`kernbench.runtime.groups`). For every
other member ``j`` that PE has two queues: ``p2p<j>`` carries messages to and from ``j`` (``j`` the peer's
global rank), ``ack<j>`` the acknowledgements that end a send. Their receive rings sit in the PE's TCM ring
region, one block per peer in group-rank order, so every member computes where its peers' rings are without
asking them; they are installed when a member first talks to a peer (`queues`), and a peer that installs first
finds its early messages kept (`kernbench.engine.ipcq`).

A message is the data in slot-size pieces, then a header (tag, elements). Receives are posted first and land in
the background straight into the destination tensor, then the sends go; a receive checks the header against
what it expects (a tag or size that disagrees is an error naming both ranks), and acknowledges. The header comes
last because a landed piece frees its slot by itself, while a header holds its slot until the kernel reads it:
first, it would keep a message of more pieces than the ring has slots from getting through while both ranks send. A send ends with
the acknowledgement, as NCCL's does when its receiver has the data: so a send without its receive ends in the
simulation's deadlock report (the sender waits on ``ack<peer>``), and two ranks that both send before they receive
need ``batch_isend_irecv``, as with NCCL. All-to-all (pairwise exchange) uses the same queues: step ``k`` sends
this member's chunk for member ``r + k`` and receives the one from ``r - k``; its headers carry no tag (-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kernbench.ccl.algorithms.common import Prefetch
from kernbench.engine import QueueSpec, ring_region, ring_region_bytes
from kernbench.kernels import TLBase, itemsize
from kernbench.topology import Topology

Pe = tuple[int, int]
HEADER = (2,)
"""A message's header: (tag, elements), i64."""
A2A_TAG = -1
N_SLOTS = 4
ACK_SLOTS = 2
ACK_BYTES = 64
CREDIT_BYTES = 16


class P2PError(RuntimeError):
    """A message that does not match its receive: another tag or another size."""


@dataclass(frozen=True)
class Channel:
    """The p2p layout of one group: its members (SIPs), the PE each runs point-to-point on, the slot size."""

    members: tuple[int, ...]
    pes: tuple[Pe, ...]
    slot_bytes: int

    @classmethod
    def of(cls, members: Sequence[int], pes: Sequence[Pe]) -> Channel:
        """Slots as large as the ring region allows for every peer (64 KiB at most, 256 bytes at least)."""
        peers = max(1, len(members) - 1)
        room = ring_region_bytes("tcm") // peers - ACK_SLOTS * ACK_BYTES
        slot = 1 << 16
        while slot * N_SLOTS > room and slot > 256:
            slot //= 2
        if slot * N_SLOTS > room:
            raise P2PError(f"point-to-point: a group of {len(members)} ranks has too many peers for a PE's rings")
        return cls(tuple(members), tuple(pes), slot)

    def _block(self, rank: int, peer: int) -> int:
        """Where member ``rank``'s rings for member ``peer`` start in its ring region."""
        index = peer if peer < rank else peer - 1
        return index * (N_SLOTS * self.slot_bytes + ACK_SLOTS * ACK_BYTES)

    def queues(self, topo: Topology, rank: int, peer: int) -> tuple[QueueSpec, QueueSpec]:
        """Member ``rank``'s two queues to member ``peer`` (group ranks): messages, acknowledgements."""
        me, them = self.members[rank], self.members[peer]
        mine = ring_region(topo, "tcm", me, *self.pes[rank])[0].offset_by(self._block(rank, peer))
        theirs = ring_region(topo, "tcm", them, *self.pes[peer])[0].offset_by(self._block(peer, rank))
        node = (them, *self.pes[peer])
        ring = N_SLOTS * self.slot_bytes
        data = QueueSpec(f"p2p{them}", N_SLOTS, self.slot_bytes, node, theirs, node, mine, credit_bytes=CREDIT_BYTES)
        acks = QueueSpec(
            f"ack{them}",
            ACK_SLOTS,
            ACK_BYTES,
            node,
            theirs.offset_by(ring),
            node,
            mine.offset_by(ring),
            credit_bytes=CREDIT_BYTES,
        )
        return data, acks


@dataclass(frozen=True)
class Op:
    """One send or receive of a batch: ``peer`` the other member's global rank (its queues' name)."""

    send: bool
    ptr: int
    elements: int
    dtype: str
    peer: int
    tag: int


def batch_kernel(tl: TLBase, *, ops: Sequence[Op], me: int, slot_bytes: int) -> None:
    """Receives posted first (landing in the background), then the sends, then each receive checked and
    acknowledged, then each send's acknowledgement awaited."""
    posted = [_post(tl, op, slot_bytes) for op in ops if not op.send]
    sends = [op for op in ops if op.send]
    for op in sends:
        _send(tl, op, slot_bytes)
    for op, (header, pieces) in zip([op for op in ops if not op.send], posted, strict=True):
        _check(tl.wait(header), op, me, "recv")
        for piece in pieces:
            tl.wait(piece)
        tl.send(f"ack{op.peer}", tl.zeros((1,), "i64"))
    for op in sends:
        tl.recv(f"ack{op.peer}", (1,), "i64")


def all_to_all_kernel(
    tl: TLBase,
    *,
    out_ptr: int,
    in_ptr: int,
    members: Sequence[int],
    send_counts: Sequence[int],
    recv_counts: Sequence[int],
    dtype: str,
    slot_bytes: int,
) -> None:
    """Pairwise exchange: this member's own chunk copied, every other received in the background (posted first),
    then sent step by step (step ``k`` to member ``r + k``)."""
    r, g, item = tl.rank, len(members), itemsize(dtype)
    send_at = np.concatenate([[0], np.cumsum(send_counts)]).astype(int)
    recv_at = np.concatenate([[0], np.cumsum(recv_counts)]).astype(int)
    order = [(r - k) % g for k in range(1, g)]
    posted = [
        _post(tl, Op(False, out_ptr + int(recv_at[j]) * item, recv_counts[j], dtype, members[j], A2A_TAG), slot_bytes)
        for j in order
    ]
    if recv_counts[r]:
        tl.store(out_ptr + int(recv_at[r]) * item, tl.load(in_ptr + int(send_at[r]) * item, (recv_counts[r],), dtype))
    for k in range(1, g):
        j = (r + k) % g
        _send(tl, Op(True, in_ptr + int(send_at[j]) * item, send_counts[j], dtype, members[j], A2A_TAG), slot_bytes)
    for j, (header, pieces) in zip(order, posted, strict=True):
        op = Op(False, 0, recv_counts[j], dtype, members[j], A2A_TAG)
        _check(tl.wait(header), op, members[r], "all_to_all_single")
        for piece in pieces:
            tl.wait(piece)


def _post(tl: TLBase, op: Op, slot_bytes: int) -> tuple:
    """A receive's pieces and header claimed now, the pieces landing straight into the destination."""
    direction, item = f"p2p{op.peer}", itemsize(op.dtype)
    step = max(1, slot_bytes // item)
    pieces = [
        tl.recv_async(direction, (min(step, op.elements - a),), op.dtype, dst=op.ptr + a * item)
        for a in range(0, op.elements, step)
    ]
    return tl.recv_async(direction, HEADER, "i64"), pieces


def _send(tl: TLBase, op: Op, slot_bytes: int) -> None:
    """The data in slot-size pieces, loaded ahead of use, then the header."""
    direction, item = f"p2p{op.peer}", itemsize(op.dtype)
    step = max(1, slot_bytes // item)
    plan = [(a, op.ptr + a * item, min(step, op.elements - a)) for a in range(0, op.elements, step)]
    loads = Prefetch(tl, plan, op.dtype, N_SLOTS // 2)
    handles = [tl.send_async(direction, loads.get(a)) for a, _, _ in plan]
    tl.send(direction, tl.zeros(HEADER, "i64") + np.array([op.tag, op.elements], dtype=np.int64))
    for handle in handles:
        tl.wait(handle)


def _check(header, op: Op, me: int, what: str) -> None:
    tag, elements = (int(v) for v in header.value)
    if (tag, elements) != (op.tag, op.elements):
        said = f"{elements} elements" + ("" if tag == A2A_TAG else f", tag {tag}")
        wants = f"{op.elements} elements" + ("" if op.tag == A2A_TAG else f", tag {op.tag}")
        raise P2PError(f"{what}: rank {me} expects {wants} from rank {op.peer}, which sent {said}")
