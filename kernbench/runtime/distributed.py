"""``torch.distributed`` with rank = SIP: process groups, barriers and collectives over IPCQ.

`init_process_group` installs, through the engine (`IpcqInitMsg`, one per PE of the rank's install plan), the
queues of the all-reduce algorithm ccl.yaml selects, a ring between SIP leaders (directions ``ring_E`` /
``ring_W``) that broadcast, all-gather and reduce-scatter run on, and the rounds of the barrier
(`kernbench.ccl.barrier`, directions ``bar_x<k>`` and ``bar_y<k>``). A peer that is quicker to send finds its
data kept until the queues exist, so no side band is needed. Collectives are kernels on the participating PEs:
ranks meet inside the simulation, through the inter-SIP links (and so across MPI processes), never through a
shortcut that peeks at another rank.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kernbench.ccl import (
    REDUCE_OPS,
    AlgorithmConfig,
    CclConfig,
    CclConfigError,
    InstallPlans,
    build_install_plans,
    resolve_validator,
    ring_all_gather_kernel,
    ring_broadcast_kernel,
    ring_reduce_scatter_kernel,
    world_size_of,
)
from kernbench.ccl import barrier as dissemination_barrier
from kernbench.ccl.algorithms import ring_allreduce
from kernbench.ccl.algorithms.common import BLOCK_BYTES
from kernbench.engine import SYNC_BUFFER, Completion, Handle, IpcqInitMsg
from kernbench.kernels import itemsize
from kernbench.runtime.placement import DPPolicy

if TYPE_CHECKING:
    from kernbench.runtime.context import RuntimeContext
    from kernbench.runtime.tensor import Tensor
    from kernbench.topology import Topology

LEADER = (0, 0)
"""(cube, pe) of the PE that runs a rank's part of the ring collectives."""
RING_PREFIX = "ring_"
RING_DIRS = {"east": RING_PREFIX + "E", "west": RING_PREFIX + "W"}


def _blockwise(ptr: int, tl, *, kernel, steps: list[tuple[int, tuple]]) -> None:
    """Run the algorithm's ``kernel`` on each block of this PE's shard in turn: ``steps`` = (offset, its args)."""
    for offset, args in steps:
        kernel(ptr + offset, *args, tl)


def process_group_plans(ccl: CclConfig, topo: Topology) -> InstallPlans:
    """Every rank's plan: the selected algorithm's queues, the leaders' ring and the barrier's rounds; a plan that
    cannot be built (rings too big, more ranks than SIPs) is a `CclConfigError` naming the ccl.yaml entry."""
    algo = ccl.selected()
    leaders = replace(
        algo, mapper="leader_only", validator="single_shard_per_rank", buffer_kind="tcm", kernel_config={}
    )
    ring = replace(leaders, name="process_group_ring", module=ring_allreduce.__name__, topology="ring_1d")
    barrier = replace(
        leaders,
        name="process_group_barrier",
        module=dissemination_barrier.__name__,
        topology="dissemination",
        buffer_kind=SYNC_BUFFER,
        n_slots=dissemination_barrier.SLOTS,
        slot_size=dissemination_barrier.SLOT_BYTES,
        ipcq_credit_size_bytes=dissemination_barrier.CREDIT_BYTES,
    )
    try:
        return build_install_plans(algo, topo, extra=((RING_PREFIX, ring), (dissemination_barrier.PREFIX, barrier)))
    except ValueError as exc:
        raise CclConfigError(ccl.source, f"algorithms.{algo.name}", str(exc)) from None


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
        self._plans: InstallPlans | None = None  # every rank's plan, each built when first used in this process
        self._installed: set[int] = set()
        self._members: set[int] = set()  # the SIPs in the process group now
        self._barrier: dict[str, Any] | None = None  # the barrier kernel's rounds and release delay, found once
        self._driver = False  # init_process_group ran at the top level (the seeds' single driver, ADR-0024 D9)

    @property
    def algorithm(self) -> AlgorithmConfig:
        """The ccl.yaml entry all_reduce runs."""
        return self._ctx.ccl.selected()

    def init_process_group(self, backend: str = "ahbm", world_size: int | None = None, rank: int | None = None) -> None:
        """Join the group: rank = this worker's SIP; world = every SIP, or the ccl.yaml entry's world_size.

        Called at the top level (outside host code, as the seeds' single driver does before ``spawn``), it
        initialises the group for the workers: each joins on its first collective (or ``get_rank``) without
        calling it again, and the driver's ``get_rank()`` is 0.
        """
        if backend != "ahbm":
            raise ValueError(f"init_process_group: backend must be 'ahbm', got {backend!r}")
        world = world_size_of(self.algorithm, self._ctx.topo)
        if not self._in_worker():
            if world_size not in (None, world) or rank not in (None, 0):
                raise ValueError(
                    f"init_process_group: the driver is rank 0 of {world}; got rank={rank}, world_size={world_size}"
                )
            self._driver = True
            return
        self._join(world_size, rank)

    def _join(self, world_size: int | None = None, rank: int | None = None) -> None:
        """This worker's SIP joins the group: the install plan's queues (once: the hardware keeps them)."""
        sip = self._ctx.current_device()
        world = world_size_of(self.algorithm, self._ctx.topo)
        if sip >= world:
            raise ValueError(
                f"init_process_group: sip{sip} is not a rank: ccl.yaml algorithm "
                f"{self.algorithm.name!r} has world_size {world} (SIPs 0..{world - 1})"
            )
        if world_size not in (None, world) or rank not in (None, sip):
            raise ValueError(
                f"init_process_group: rank = SIP: this worker is rank {sip} of {world}; "
                f"got rank={rank}, world_size={world_size}"
            )
        if sip in self._members:
            raise RuntimeError(f"init_process_group: sip{sip} is already in the process group")
        if sip not in self._installed:  # the hardware keeps its queues after destroy_process_group
            plan = self.plans()[sip]
            msgs = [IpcqInitMsg(sip, pe.cube, pe.pe, pe.queues) for pe in plan.installs]
            if msgs:
                self._ctx._requests(msgs, "ipcq_init")
            self._installed.add(sip)
        self._members.add(sip)

    def shard_policy(self) -> DPPolicy:
        """The layout `all_reduce` takes: one shard on each PE of the algorithm's plan (the mappers pick the
        first cubes and PEs), so a host script need not know which PEs the algorithm uses."""
        pes = self.plans()[self._check()].pes
        cubes = sorted({c for c, _ in pes})
        return DPPolicy(cube="column_wise", pe="column_wise", num_cubes=len(cubes), num_pes=len(pes) // len(cubes))

    def plans(self) -> InstallPlans:
        """Every rank's install plan: the selected algorithm's queues and the leaders' ring."""
        if self._plans is None:
            self._plans = process_group_plans(self._ctx.ccl, self._ctx.topo)
        return self._plans

    def is_initialized(self) -> bool:
        if not self._in_worker():
            return self._driver
        return self._driver or self._ctx.current_device() in self._members

    def get_rank(self) -> int:
        """This worker's rank (its SIP); outside host code, after a top-level ``init_process_group``, the single
        driver's rank 0 (ADR-0024 D9 of the seeds; ``KERNBENCH_DEBUG=1`` warns, as there)."""
        if not self._in_worker():
            self._check_driver("get_rank")
            if os.environ.get("KERNBENCH_DEBUG"):
                warnings.warn(
                    "get_rank() called outside a spawned worker: returning 0. Likely a bug unless "
                    "running single-driver.",
                    stacklevel=2,
                )
            return 0
        self._check()
        return self._ctx.current_device()

    def get_world_size(self) -> int:
        if not self._in_worker():
            self._check_driver("get_world_size")
            return self._world
        self._check()
        return self._world

    def get_backend(self) -> str:
        if not self._in_worker():
            self._check_driver("get_backend")
            return "ahbm"
        self._check()
        return "ahbm"

    def _in_worker(self) -> bool:
        try:
            self._ctx.engine.sim.current_lp()
        except RuntimeError:
            return False
        return True

    def _check_driver(self, what: str) -> None:
        if not self._driver:
            raise RuntimeError(f"{what}: call torch.distributed.init_process_group() first")

    def barrier(self) -> None:
        """Return once every rank has reached its barrier: a dissemination barrier through the simulation
        (`kernbench.ccl.barrier`), ceil(log2 p) rounds, after which the ranks leave within about a message time of
        each other."""
        geometry = self.plans()[self._check()].geometry
        if self._barrier is None:
            self._barrier = {
                "rounds": dissemination_barrier.directions(geometry),
                "delay_ns": dissemination_barrier.release_delay_ns(self._ctx.topo, geometry),
            }
        arrive_ps = math.ceil(self._ctx.engine.now() * dissemination_barrier.PS_PER_NS)  # up: never before now
        kwargs = {**self._barrier, "arrive_ps": arrive_ps}
        self._run("barrier", dissemination_barrier.kernel, (), [LEADER], False, kwargs=kwargs)

    def all_reduce(self, tensor: Tensor, op: str = ReduceOp.SUM, async_op: bool = False) -> Work | None:
        """Reduce ``tensor`` over all ranks in place with the ccl.yaml algorithm (same shape and dtype on every
        rank). Its shards must be laid out as the algorithm's validator asks (one shard on the leader PE for the
        SIP-to-SIP algorithms, one on every participating PE for the multi-PE ones); algorithms that reduce across
        PEs (``REDUCES_ACROSS_PES``) combine every participating shard of every rank."""
        self._check_op("all_reduce", op)
        algo, plan = self.algorithm, self.plans()[self._check()]
        shards = self._own_shards("all_reduce", tensor)
        try:
            resolve_validator(algo.validator)(shards, plan.pes, plan.geometry)
        except ValueError as exc:
            raise ValueError(
                f"all_reduce: {tensor.name} does not fit ccl algorithm {algo.name!r} "
                f"(validator {algo.validator}): {exc}"
            ) from None
        sizes = {s.nbytes for s in shards}
        if len(sizes) != 1 or len({s.offset_bytes for s in shards}) != len(shards):
            raise ValueError(
                f"all_reduce: {tensor.name} needs distinct shards of one size on the participating "
                f"PEs, got sizes {sorted(sizes)} (replicated shards cannot be reduced in place)"
            )
        size = itemsize(tensor.dtype)
        module = algo.load_module()
        n_elem = sizes.pop() // size
        block = n_elem if getattr(module, "STREAMS", False) else BLOCK_BYTES // size
        steps = [
            (
                start * size,
                tuple(
                    module.kernel_args(
                        n_elem=min(block, n_elem - start),
                        world_size=plan.world_size,
                        dtype=tensor.dtype,
                        op=op,
                        slot_elems=algo.slot_size // size,
                        n_slots=algo.n_slots,
                        geometry=plan.geometry,
                        topology=algo.topology,
                        **algo.kernel_config,
                    )
                ),
            )
            for start in range(0, n_elem, block)
        ]
        ptrs = {(s.cube, s.pe): (tensor.va + s.offset_bytes,) for s in shards}
        return self._run(
            "all_reduce",
            _blockwise,
            (),
            plan.pes,
            async_op,
            pe_args=ptrs,
            kwargs={"kernel": module.kernel, "steps": steps},
        )

    def reduce_scatter_tensor(
        self, output: Tensor, input: Tensor, op: str = ReduceOp.SUM, async_op: bool = False
    ) -> Work | None:
        """Rank r's ``output`` gets part r of the reduction of every rank's ``input`` (world times as long)."""
        self._check_op("reduce_scatter_tensor", op)
        n_out = self._leader_elements("reduce_scatter_tensor", output)
        n_in = self._leader_elements("reduce_scatter_tensor", input)
        self._same_dtype("reduce_scatter_tensor", output, input, n_in, n_out * self._world)
        args = (output.va, input.va, n_out, output.dtype, op, self._world, self._slot(output), self._window)
        return self._run(
            "reduce_scatter_tensor", ring_reduce_scatter_kernel, args, [LEADER], async_op, kwargs=RING_DIRS
        )

    def all_gather_into_tensor(self, output: Tensor, input: Tensor, async_op: bool = False) -> Work | None:
        """Every rank's ``output`` gets all ranks' ``input`` concatenated in rank order."""
        n_in = self._leader_elements("all_gather_into_tensor", input)
        n_out = self._leader_elements("all_gather_into_tensor", output)
        self._same_dtype("all_gather_into_tensor", input, output, n_out, n_in * self._world)
        args = (output.va, input.va, n_in, input.dtype, self._world, self._slot(input), self._window)
        return self._run("all_gather_into_tensor", ring_all_gather_kernel, args, [LEADER], async_op, kwargs=RING_DIRS)

    def broadcast(self, tensor: Tensor, src: int, async_op: bool = False) -> Work | None:
        """Every rank's ``tensor`` gets rank ``src``'s values."""
        if not 0 <= src < self._world:
            raise ValueError(f"broadcast: src must be a rank 0..{self._world - 1}, got {src}")
        n = self._leader_elements("broadcast", tensor)
        args = (tensor.va, n, tensor.dtype, src, self._world, self._slot(tensor), self._window)
        return self._run("broadcast", ring_broadcast_kernel, args, [LEADER], async_op, kwargs=RING_DIRS)

    def _run(
        self,
        name: str,
        kernel,
        args: tuple,
        grid,
        async_op: bool,
        *,
        kwargs: dict | None = None,
        pe_args: dict | None = None,
    ) -> Work | None:
        handle = self._ctx._launch_async(name, kernel, args, grid=list(grid), kwargs=kwargs, pe_args=pe_args)
        work = Work(self._ctx, handle, f"kernel:{name}")
        if async_op:
            return work
        work.wait()
        return None

    @property
    def _world(self) -> int:
        return world_size_of(self.algorithm, self._ctx.topo)

    @property
    def _window(self) -> int:
        return self.algorithm.n_slots

    def _slot(self, tensor: Tensor) -> int:
        return self.algorithm.slot_size // itemsize(tensor.dtype)

    @staticmethod
    def _check_op(what: str, op: str) -> None:
        if op not in REDUCE_OPS:
            raise ValueError(f"{what}: op must be one of {', '.join(REDUCE_OPS)}, got {op!r}")

    def _own_shards(self, what: str, tensor: Tensor) -> list:
        sip = self._check()
        if tensor.is_host or tensor.device != sip:
            raise ValueError(f"{what}: {tensor.name} must be a device tensor on this rank's SIP (sip{sip})")
        return list(tensor.shards)

    def _leader_elements(self, what: str, tensor: Tensor) -> int:
        """Elements of ``tensor``, which must be a one-PE tensor on cube 0 PE 0 of this rank's SIP."""
        if [(s.cube, s.pe) for s in self._own_shards(what, tensor)] != [LEADER]:
            raise ValueError(
                f"{what}: {tensor.name} must live on one PE, cube 0 PE 0 (dp=DPPolicy(num_cubes=1, num_pes=1))"
            )
        return math.prod(tensor.shape)

    @staticmethod
    def _same_dtype(what: str, small: Tensor, big: Tensor, n_big: int, expected: int) -> None:
        if small.dtype != big.dtype or n_big != expected:
            raise ValueError(
                f"{what}: {big.name} must hold world size x {small.name}: {expected} elements of "
                f"{small.dtype}, got {n_big} of {big.dtype}"
            )

    def destroy_process_group(self) -> None:
        if not self._in_worker():
            self._check_driver("destroy_process_group")
            self._driver = False
            return
        self._members.remove(self._check())

    def _check(self) -> int:
        sip = self._ctx.current_device()
        if sip not in self._members:
            if not self._driver:
                raise RuntimeError(f"sip{sip}: call torch.distributed.init_process_group() first")
            self._join()  # the driver initialised the group: this worker joins now
        return sip
