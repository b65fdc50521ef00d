"""``torch.distributed``'s point-to-point calls and all-to-all, on a process group's point-to-point PE.

Messages travel as `kernbench.ccl.p2p` describes: posted receives, headers that are checked, acknowledgements that
end a send. Each call is a kernel on the group's point-to-point PE of the rank's SIP, after the rank's previous one
there (one stream per group, as NCCL's): a rank's sends and receives to one peer match in the order they were
made. ``dst`` and ``src`` are global ranks, as in torch; ``group_dst`` / ``group_src`` name ranks of ``group``
instead. As with NCCL, two ranks that both send before they receive need `batch_isend_irecv`; a send whose
receive never comes ends in the simulation's deadlock report, naming the queue the sender waits on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kernbench.ccl.p2p import Channel, Op, all_to_all_kernel, batch_kernel
from kernbench.engine import IpcqInitMsg
from kernbench.runtime.groups import GroupError, GroupTable, ProcessGroup

if TYPE_CHECKING:
    from kernbench.runtime.context import RuntimeContext
    from kernbench.runtime.distributed import Work
    from kernbench.runtime.tensor import Tensor


@dataclass
class P2POp:
    """One send or receive of `batch_isend_irecv` (``torch.distributed.P2POp``): ``op`` is ``dist.isend`` or
    ``dist.irecv``, ``peer`` a global rank (or ``group_peer`` a rank of ``group``)."""

    op: Callable[..., Any]
    tensor: Tensor
    peer: int | None = None
    group: ProcessGroup | None = None
    tag: int = 0
    group_peer: int | None = None

    @property
    def sends(self) -> bool:
        name = getattr(self.op, "__name__", "")
        if name not in ("isend", "irecv"):
            raise ValueError(f"P2POp: op must be dist.isend or dist.irecv, got {self.op!r}")
        return name == "isend"


class PointToPoint:
    """The point-to-point part of `kernbench.runtime.distributed.Distributed`."""

    if TYPE_CHECKING:  # what the rest of Distributed provides
        _ctx: RuntimeContext
        _channels: dict[int, Channel]  # group id -> its point-to-point layout
        _opened: set[tuple[int, int, int]]  # (SIP, group id, peer) whose queues are installed

        def _member(self, what: str, group: ProcessGroup | None) -> tuple[int, ProcessGroup]: ...
        def _table(self) -> GroupTable: ...
        def _rank_of(self, sip: int) -> int: ...
        def _sip(self, rank: Any) -> Any: ...
        def _own_shards(self, what: str, tensor: Tensor) -> list: ...
        def _run(
            self,
            name: str,
            kernel: Any,
            args: tuple,
            grid: Any,
            async_op: bool,
            group: ProcessGroup,
            kwargs: dict | None = None,
            *,
            pe_args: dict | None = None,
            stream: str = "collectives",
        ) -> Work | None: ...

    def send(
        self, tensor: Tensor, dst: int | None = None, group: ProcessGroup | None = None, tag: int = 0, **kw: Any
    ) -> None:
        """Send ``tensor`` to rank ``dst``; returns once the receiver has it."""
        self.isend(tensor, dst, group, tag, **kw).wait()

    def recv(
        self, tensor: Tensor, src: int | None = None, group: ProcessGroup | None = None, tag: int = 0, **kw: Any
    ) -> int:
        """Receive into ``tensor`` from rank ``src`` (a rank must be named: NCCL has no any-source receive);
        returns ``src``."""
        self.irecv(tensor, src, group, tag, **kw).wait()
        return self._rank_of(self._peer("recv", group, src, kw.get("group_src"))[1])

    def isend(
        self,
        tensor: Tensor,
        dst: int | None = None,
        group: ProcessGroup | None = None,
        tag: int = 0,
        group_dst: int | None = None,
    ) -> Work:
        return self.batch_isend_irecv([P2POp(self.isend, tensor, dst, group, tag, group_dst)])[0]

    def irecv(
        self,
        tensor: Tensor,
        src: int | None = None,
        group: ProcessGroup | None = None,
        tag: int = 0,
        group_src: int | None = None,
    ) -> Work:
        return self.batch_isend_irecv([P2POp(self.irecv, tensor, src, group, tag, group_src)])[0]

    def batch_isend_irecv(self, p2p_op_list: Sequence[P2POp]) -> list[Work]:
        """Every send and receive of the list at once (one kernel: the receives posted first), all on one group;
        a `Work` per op, done when all of them are."""
        if not p2p_op_list:
            raise ValueError("batch_isend_irecv: the list of P2POp is empty")
        groups = {id(op.group) for op in p2p_op_list}
        if len(groups) != 1:
            raise ValueError("batch_isend_irecv: every P2POp must be on the same group")
        sip, group = self._member("batch_isend_irecv", p2p_op_list[0].group)
        ops = []
        for p in p2p_op_list:
            what = "isend" if p.sends else "irecv"
            _, peer = self._peer(what, p.group, p.peer, p.group_peer)
            if peer == sip:
                raise ValueError(f"{what}: rank {sip} cannot send to or receive from itself")
            n = self._elements(what, p.tensor)
            ops.append(Op(p.sends, p.tensor.va, n, p.tensor.dtype, peer, int(p.tag)))
        channel = self._open(group, sip, [op.peer for op in ops])
        kwargs = {"ops": ops, "me": sip, "slot_bytes": channel.slot_bytes}
        pe = self._table().p2p_pe(group, sip)
        work = self._run("p2p", batch_kernel, (), [pe], True, group, kwargs, stream="p2p")
        assert work is not None
        return [work] * len(ops)

    def all_to_all_single(
        self,
        output: Tensor,
        input: Tensor,
        output_split_sizes: Sequence[int] | None = None,
        input_split_sizes: Sequence[int] | None = None,
        group: ProcessGroup | None = None,
        async_op: bool = False,
    ) -> Work | None:
        """Rank r sends rows ``input_split_sizes[j]`` of its ``input`` (in order) to rank j of ``group``, and gets
        rank j's into rows ``output_split_sizes[j]`` of its ``output`` (default: even splits), by ccl.yaml's
        ``defaults.all_to_all`` (pairwise exchange). Sizes that two ranks disagree on are an error naming both.
        Unlike torch, the splits may cover fewer rows than a tensor has (a buffer sized for the most that can come,
        as MoE dispatch keeps one): the rows after them are left as they are."""
        sip, group = self._member("all_to_all_single", group)
        if input.dtype != output.dtype:
            raise ValueError(f"all_to_all_single: input is {input.dtype}, output is {output.dtype}")
        send = self._splits("input", input, input_split_sizes, group.size())
        recv = self._splits("output", output, output_split_sizes, group.size())
        channel = self._open(group, sip, [r for r in group.ranks if r != sip])
        kwargs = {
            "out_ptr": output.va,
            "in_ptr": input.va,
            "members": group.ranks,
            "send_counts": send,
            "recv_counts": recv,
            "dtype": input.dtype,
            "slot_bytes": channel.slot_bytes,
        }
        pe = self._table().p2p_pe(group, sip)
        return self._run("all_to_all", all_to_all_kernel, (), [pe], async_op, group, kwargs, stream="p2p")

    # -- internals -----------------------------------------------------------------------------------------------

    def _peer(self, what: str, group: ProcessGroup | None, rank: int | None, group_rank: int | None) -> tuple[int, int]:
        """(this rank's SIP, the peer's SIP) from a global rank or a rank of ``group``."""
        sip, grp = self._member(what, group)
        if (rank is None) == (group_rank is None):
            raise ValueError(f"{what}: name the peer by its global rank or its rank in the group, one of them")
        peer = grp.ranks[group_rank] if group_rank is not None and 0 <= group_rank < grp.size() else self._sip(rank)
        if peer is None or grp.rank_of(peer) < 0:
            shown = rank if group_rank is None else f"group rank {group_rank}"
            raise GroupError(f"{what}: the peer {shown} is not a rank of {grp}")
        return sip, peer

    def _elements(self, what: str, tensor: Tensor) -> int:
        self._own_shards(what, tensor)
        return math.prod(tensor.shape)

    def _splits(self, what: str, tensor: Tensor, splits: Sequence[int] | None, size: int) -> list[int]:
        """Elements per rank of ``group`` from row splits (dim 0), even when none are given."""
        rows = int(tensor.shape[0])
        per_row = self._elements("all_to_all_single", tensor) // max(1, rows)
        if splits is None:
            if rows % size:
                raise ValueError(f"all_to_all_single: {what} has {rows} rows, which {size} ranks cannot split evenly")
            splits = [rows // size] * size
        if len(splits) != size or sum(splits) > rows or any(s < 0 for s in splits):
            raise ValueError(
                f"all_to_all_single: {what}_split_sizes must be {size} row counts adding up to at most {rows}, got "
                f"{list(splits)}"
            )
        return [int(s) * per_row for s in splits]

    def _open(self, group: ProcessGroup, sip: int, peers: Sequence[int]) -> Channel:
        """The group's point-to-point layout, with ``sip``'s queues to ``peers`` installed (once each)."""
        table = self._table()
        channel = self._channels.get(group.gid)
        if channel is None:
            pes = [table.p2p_pe(group, s) for s in group.ranks]
            channel = self._channels[group.gid] = Channel.of(group.ranks, pes)
        me = group.rank_of(sip)
        new = sorted({p for p in peers if (sip, group.gid, p) not in self._opened})
        if new:
            queues = [q for p in new for q in channel.queues(self._ctx.topo, me, group.rank_of(p))]
            self._ctx.run_requests([IpcqInitMsg(sip, *table.p2p_pe(group, sip), tuple(queues))], "ipcq_init")
            self._opened.update((sip, group.gid, p) for p in new)
        return channel
