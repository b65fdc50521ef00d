"""``torch.distributed`` with rank = SIP: process groups, barriers and all-reduce over IPCQ rings.

Every rank's host worker calls `init_process_group`, which installs its leader PE's ring queues through the
engine (`IpcqInitMsg`); a peer that is quicker to send finds its data kept until the queues exist, so no side
band is needed. Collectives are kernels on the leader PEs: ranks meet inside the simulation, through the
inter-SIP links (and so across MPI processes), never through a shortcut that peeks at another rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernbench.ccl import REDUCE_OPS, ring_allreduce_kernel, ring_queues
from kernbench.ccl.ring import LEADER
from kernbench.engine import Completion, Handle, IpcqInitMsg
from kernbench.kernels import itemsize
from kernbench.runtime.placement import DPPolicy

if TYPE_CHECKING:
    from kernbench.runtime.context import RuntimeContext
    from kernbench.runtime.tensor import Tensor

N_SLOTS = 8
SLOT_BYTES = 64 << 10


class ReduceOp:
    """Reduction operators, as ``torch.distributed.ReduceOp``."""

    SUM = "sum"
    MAX = "max"
    MIN = "min"
    AVG = "avg"


@dataclass
class Work:
    """What an ``async_op=True`` collective returns: ``wait()`` blocks until it is done."""

    _ctx: RuntimeContext
    _handle: Handle
    _phase: str

    def wait(self) -> Completion:
        return self._ctx._finish([self._handle], self._phase)[0]

    def is_completed(self) -> bool:
        return self._handle.done


class Distributed:
    """``torch.distributed`` of one process; its state is per SIP (per host worker)."""

    ReduceOp = ReduceOp

    def __init__(self, ctx: RuntimeContext) -> None:
        self._ctx = ctx
        self._installed: set[int] = set()
        self._groups: dict[int, Tensor] = {}  # SIP -> its barrier scratch, while its group exists

    def init_process_group(self, backend: str = "ahbm", world_size: int | None = None, rank: int | None = None) -> None:
        """Join the group: rank = this worker's SIP, world = every SIP of the topology."""
        sip = self._ctx.current_device()
        if backend != "ahbm":
            raise ValueError(f"init_process_group: backend must be 'ahbm', got {backend!r}")
        world = self._ctx.topo.sip_count
        if world_size not in (None, world) or rank not in (None, sip):
            raise ValueError(f"init_process_group: rank = SIP: this worker is rank {sip} of {world}; "
                             f"got rank={rank}, world_size={world_size}")
        if sip in self._groups:
            raise RuntimeError(f"init_process_group: sip{sip} is already in the process group")
        if sip not in self._installed:  # the hardware keeps its queues after destroy_process_group
            queues = ring_queues(self._ctx.topo, sip, world, N_SLOTS, SLOT_BYTES)
            if queues:
                self._ctx._request(IpcqInitMsg(sip, *LEADER, queues), "ipcq_init")
            self._installed.add(sip)
        self._groups[sip] = self._ctx.zeros((1,), "f32", dp=DPPolicy(num_cubes=1, num_pes=1), name="barrier")

    def is_initialized(self) -> bool:
        return self._ctx.current_device() in self._groups

    def get_rank(self) -> int:
        self._check()
        return self._ctx.current_device()

    def get_world_size(self) -> int:
        self._check()
        return self._ctx.topo.sip_count

    def get_backend(self) -> str:
        self._check()
        return "ahbm"

    def barrier(self) -> None:
        """Return once every rank has reached its barrier (a one-element all-reduce through the simulation)."""
        self.all_reduce(self._groups[self._check()])

    def all_reduce(self, tensor: Tensor, op: str = ReduceOp.SUM, async_op: bool = False) -> Work | None:
        """Reduce ``tensor`` over all ranks in place (every rank calls it with the same shape and dtype)."""
        sip = self._check()
        if op not in REDUCE_OPS:
            raise ValueError(f"all_reduce: op must be one of {', '.join(REDUCE_OPS)}, got {op!r}")
        if tensor.is_host or tensor.device != sip:
            raise ValueError(f"all_reduce: {tensor.name} must be a device tensor on this rank's SIP (sip{sip})")
        if [(s.cube, s.pe) for s in tensor.shards] != [LEADER]:
            raise NotImplementedError(
                f"all_reduce: {tensor.name} must live on one PE, cube 0 PE 0 "
                "(dp=DPPolicy(num_cubes=1, num_pes=1)); sharded collectives are not implemented yet"
            )
        n = math.prod(tensor.shape)
        slot_elems = SLOT_BYTES // itemsize(tensor.dtype)
        args = (tensor.va, n, tensor.dtype, op, self._ctx.topo.sip_count, slot_elems, N_SLOTS)
        handle = self._ctx._launch_async("all_reduce", ring_allreduce_kernel, args, grid=[LEADER])
        work = Work(self._ctx, handle, "kernel:all_reduce")
        if async_op:
            return work
        work.wait()
        return None

    def destroy_process_group(self) -> None:
        sip = self._check()
        self._groups.pop(sip).free()

    def _check(self) -> int:
        sip = self._ctx.current_device()
        if sip not in self._groups:
            raise RuntimeError(f"sip{sip}: call torch.distributed.init_process_group() first")
        return sip
