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

from kernbench.ccl import (
    REDUCE_OPS,
    ring_all_gather_kernel,
    ring_allreduce_kernel,
    ring_broadcast_kernel,
    ring_queues,
    ring_reduce_scatter_kernel,
)
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
        self._check_op("all_reduce", op)
        n = self._leader_elements("all_reduce", tensor)
        return self._run("all_reduce", ring_allreduce_kernel,
                         (tensor.va, n, tensor.dtype, op, self._world, self._slot(tensor), N_SLOTS), async_op)

    def reduce_scatter_tensor(self, output: Tensor, input: Tensor, op: str = ReduceOp.SUM,
                              async_op: bool = False) -> Work | None:
        """Rank r's ``output`` gets part r of the reduction of every rank's ``input`` (world times as long)."""
        self._check_op("reduce_scatter_tensor", op)
        n_out = self._leader_elements("reduce_scatter_tensor", output)
        n_in = self._leader_elements("reduce_scatter_tensor", input)
        self._same_dtype("reduce_scatter_tensor", output, input, n_in, n_out * self._world)
        args = (output.va, input.va, n_out, output.dtype, op, self._world, self._slot(output), N_SLOTS)
        return self._run("reduce_scatter_tensor", ring_reduce_scatter_kernel, args, async_op)

    def all_gather_into_tensor(self, output: Tensor, input: Tensor,
                               async_op: bool = False) -> Work | None:
        """Every rank's ``output`` gets all ranks' ``input`` concatenated in rank order."""
        n_in = self._leader_elements("all_gather_into_tensor", input)
        n_out = self._leader_elements("all_gather_into_tensor", output)
        self._same_dtype("all_gather_into_tensor", input, output, n_out, n_in * self._world)
        args = (output.va, input.va, n_in, input.dtype, self._world, self._slot(input), N_SLOTS)
        return self._run("all_gather_into_tensor", ring_all_gather_kernel, args, async_op)

    def broadcast(self, tensor: Tensor, src: int, async_op: bool = False) -> Work | None:
        """Every rank's ``tensor`` gets rank ``src``'s values."""
        if not 0 <= src < self._world:
            raise ValueError(f"broadcast: src must be a rank 0..{self._world - 1}, got {src}")
        n = self._leader_elements("broadcast", tensor)
        return self._run("broadcast", ring_broadcast_kernel,
                         (tensor.va, n, tensor.dtype, src, self._world, self._slot(tensor), N_SLOTS), async_op)

    def _run(self, name: str, kernel, args: tuple, async_op: bool) -> Work | None:
        handle = self._ctx._launch_async(name, kernel, args, grid=[LEADER])
        work = Work(self._ctx, handle, f"kernel:{name}")
        if async_op:
            return work
        work.wait()
        return None

    @property
    def _world(self) -> int:
        return self._ctx.topo.sip_count

    @staticmethod
    def _slot(tensor: Tensor) -> int:
        return SLOT_BYTES // itemsize(tensor.dtype)

    @staticmethod
    def _check_op(what: str, op: str) -> None:
        if op not in REDUCE_OPS:
            raise ValueError(f"{what}: op must be one of {', '.join(REDUCE_OPS)}, got {op!r}")

    def _leader_elements(self, what: str, tensor: Tensor) -> int:
        """Elements of ``tensor``, which must be a one-PE tensor on cube 0 PE 0 of this rank's SIP."""
        sip = self._check()
        if tensor.is_host or tensor.device != sip:
            raise ValueError(f"{what}: {tensor.name} must be a device tensor on this rank's SIP (sip{sip})")
        if [(s.cube, s.pe) for s in tensor.shards] != [LEADER]:
            raise NotImplementedError(
                f"{what}: {tensor.name} must live on one PE, cube 0 PE 0 "
                "(dp=DPPolicy(num_cubes=1, num_pes=1)); sharded collectives are not implemented yet"
            )
        return math.prod(tensor.shape)

    @staticmethod
    def _same_dtype(what: str, small: Tensor, big: Tensor, n_big: int, expected: int) -> None:
        if small.dtype != big.dtype or n_big != expected:
            raise ValueError(f"{what}: {big.name} must hold world size x {small.name}: {expected} elements of "
                             f"{small.dtype}, got {n_big} of {big.dtype}")

    def destroy_process_group(self) -> None:
        sip = self._check()
        self._groups.pop(sip).free()

    def _check(self) -> int:
        sip = self._ctx.current_device()
        if sip not in self._groups:
            raise RuntimeError(f"sip{sip}: call torch.distributed.init_process_group() first")
        return sip
