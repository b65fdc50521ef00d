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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kernbench.ccl import (
    REDUCE_OPS,
    AlgorithmConfig,
    AllReduceRequest,
    CclConfig,
    CclConfigError,
    InstallPlans,
    SipInstallPlan,
    build_install_plans,
    grid_dims,
    resolve_validator,
    ring_all_gather_kernel,
    ring_broadcast_kernel,
    ring_reduce_kernel,
    ring_reduce_scatter_kernel,
    world_size_of,
)
from kernbench.ccl import barrier as dissemination_barrier
from kernbench.ccl.algorithms import ring_allreduce
from kernbench.ccl.algorithms.common import BLOCK_BYTES
from kernbench.ccl.p2p import Channel
from kernbench.engine import SYNC_BUFFER, Completion, Handle, IpcqInitMsg
from kernbench.kernels import itemsize
from kernbench.runtime.groups import GroupError, GroupTable, ProcessGroup
from kernbench.runtime.placement import DPPolicy
from kernbench.runtime.point_to_point import P2POp, PointToPoint
from kernbench.topology import sip_grid

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


def process_group_plans(
    ccl: CclConfig,
    topo: Topology,
    members: Sequence[int] | None = None,
    leaders: Sequence[tuple[int, int]] | None = None,
) -> InstallPlans:
    """Every rank's plan: the selected algorithm's queues, the leaders' ring and the barrier's rounds; a plan that
    cannot be built (rings too big, more ranks than SIPs, an algorithm a group cannot run) is a `CclConfigError`
    naming the ccl.yaml entry. ``members`` / ``leaders``: a process group's SIPs and the PE each runs its
    collectives on (default: the world, on every SIP's cube 0 PE 0)."""
    algo = ccl.selected()
    if members is not None:
        algo = group_algorithm(ccl, topo, members)
    leaders_only = replace(
        algo, mapper="leader_only", validator="single_shard_per_rank", buffer_kind="tcm", kernel_config={}
    )
    ring = replace(leaders_only, name="process_group_ring", module=ring_allreduce.__name__, topology="ring_1d")
    barrier = replace(
        leaders_only,
        name="process_group_barrier",
        module=dissemination_barrier.__name__,
        topology="dissemination",
        buffer_kind=SYNC_BUFFER,
        n_slots=dissemination_barrier.SLOTS,
        slot_size=dissemination_barrier.SLOT_BYTES,
        ipcq_credit_size_bytes=dissemination_barrier.CREDIT_BYTES,
    )
    extra = ((RING_PREFIX, ring), (dissemination_barrier.PREFIX, barrier))
    try:
        return build_install_plans(algo, topo, extra, members, leaders)
    except ValueError as exc:
        raise CclConfigError(ccl.source, f"algorithms.{algo.name}", str(exc)) from None


GRID_TOPOLOGIES = ("mesh_2d", "torus_2d", "mesh_2d_no_wrap")


def group_algorithm(ccl: CclConfig, topo: Topology, members: Sequence[int]) -> AlgorithmConfig:
    """The selected all-reduce algorithm for a group of ``members``: one PE per SIP (the group's own), and for
    the 2D algorithms members that form a block of the SIP grid shaped as the algorithm's grid of ranks; a
    `GroupError` naming the algorithm and the group otherwise."""
    algo = ccl.selected()
    where = f"ccl algorithm {algo.name!r} on the group of ranks {list(members)[:16]}"
    if algo.mapper != "leader_only":
        raise GroupError(
            f"{where}: it runs on several PEs of every SIP ({algo.mapper}), which only the world group has; "
            "a group takes the one-PE algorithms (ring, mesh, tree)"
        )
    if algo.topology in GRID_TOPOLOGIES and len(members) > 1:
        width = sip_grid(topo.system)[0]
        w, h = grid_dims(len(members))
        x0, y0 = members[0] % width, members[0] // width
        block = [(y0 + i // w) * width + x0 + i % w for i in range(len(members))]
        if x0 + w > width or list(members) != block:
            raise GroupError(
                f"{where}: its ranks are not a {w}x{h} block of the SIP grid (rows of {width}), as the 2D "
                "algorithm needs; use a ring (--algorithm ring_allreduce_tcm) for this group"
            )
    return replace(algo, world_size=None)


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
        return self._ctx.wait([self._handle], self._phase)[0]

    def is_completed(self) -> bool:
        return self._handle.done


class _Groups:
    """``dist.group``: ``WORLD``, the default group."""

    def __init__(self, dist: Distributed) -> None:
        self._dist = dist

    @property
    def WORLD(self) -> ProcessGroup:
        return self._dist._table().world_group


class Distributed(PointToPoint):
    """``torch.distributed`` of one process; its state is per SIP (per host worker)."""

    ReduceOp = ReduceOp
    P2POp = P2POp

    def __init__(self, ctx: RuntimeContext) -> None:
        self._ctx = ctx
        self._groups: GroupTable | None = None
        self._made: dict[int, int] = {}  # SIP -> new_group calls its worker made
        self._plans: dict[int, InstallPlans] = {}  # group id -> every member's plan, built when first used
        self._installed: set[tuple[int, int]] = set()  # (SIP, group id) whose collectives' queues are installed
        self._members: set[int] = set()  # the SIPs in the (world) process group now
        self._barriers: dict[int, dict[str, Any]] = {}  # group id -> its barrier kernel's rounds and release delay
        self._streams: dict[tuple[int, int, str], Handle] = {}  # (SIP, group id, what) -> its last launch
        self._driver = False  # init_process_group ran at the top level (the seeds' single driver, ADR-0024 D9)
        self._channels: dict[int, Channel] = {}
        self._opened: set[tuple[int, int, int]] = set()
        self.group = _Groups(self)

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
        world = self._world
        if sip not in self._sips:
            where = (
                f"the job's world is SIPs {list(self._sips)[:16]}"
                if self._ctx.job
                else f"ccl.yaml algorithm {self.algorithm.name!r} has world_size {world} (SIPs 0..{world - 1})"
            )
            raise ValueError(f"init_process_group: sip{sip} is not a rank: {where}")
        if world_size not in (None, world) or rank not in (None, self._rank_of(sip)):
            raise ValueError(
                f"init_process_group: rank = SIP: this worker is rank {self._rank_of(sip)} of {world}; "
                f"got rank={rank}, world_size={world_size}"
            )
        if sip in self._members:
            raise RuntimeError(f"init_process_group: sip{sip} is already in the process group")
        self._members.add(sip)
        self._install(self._table().world_group, sip)

    def _install(self, group: ProcessGroup, sip: int) -> SipInstallPlan:
        """``sip``'s plan for ``group``'s collectives, its queues installed on first use (the hardware keeps
        them after destroy_process_group)."""
        plan = self.plans(group)[group.rank_of(sip)]
        if (sip, group.gid) not in self._installed:
            msgs = [IpcqInitMsg(sip, pe.cube, pe.pe, pe.queues) for pe in plan.installs]
            if msgs:
                self._ctx.run_requests(msgs, "ipcq_init")
            self._installed.add((sip, group.gid))
        return plan

    def shard_policy(self) -> DPPolicy:
        """The layout `all_reduce` takes: one shard on each PE of the algorithm's plan (the mappers pick the
        first cubes and PEs), so a host script need not know which PEs the algorithm uses."""
        pes = self.plans()[self._rank_of(self._check())].pes
        cubes = sorted({c for c, _ in pes})
        return DPPolicy(cube="column_wise", pe="column_wise", num_cubes=len(cubes), num_pes=len(pes) // len(cubes))

    def plans(self, group: ProcessGroup | None = None) -> InstallPlans:
        """Every member's install plan for ``group`` (default the world): the selected algorithm's queues, the
        leaders' ring and the barrier's rounds."""
        group = group or self._table().world_group
        plans = self._plans.get(group.gid)
        if plans is None:
            if group.gid == 0 and not self._ctx.job:
                plans = process_group_plans(self._ctx.ccl, self._ctx.topo)
            else:
                leaders = [self._table().collective_pe(group, sip) for sip in group.ranks]
                plans = process_group_plans(self._ctx.ccl, self._ctx.topo, group.ranks, leaders)
            self._plans[group.gid] = plans
        return plans

    # -- groups --------------------------------------------------------------------------------------------------

    def new_group(self, ranks: Sequence[int] | None = None, **_options: Any) -> ProcessGroup:
        """A process group of ``ranks`` (default every rank). As in torch, every rank calls it for every group, in
        the same order; its collectives then take ``group=``. torch's other options (timeout, backend) are
        accepted and have no effect."""
        sip = self._check()
        index = self._made.get(sip, 0)
        group = self._table().create(index, ranks, sip)
        self._made[sip] = index + 1
        return group

    def new_subgroups(self, group_size: int) -> tuple[ProcessGroup, list[ProcessGroup]]:
        """Groups of ``group_size`` consecutive ranks covering the world (``torch.distributed.new_subgroups``):
        this rank's group, and every one."""
        world = self._world
        if group_size < 1 or world % group_size:
            raise ValueError(f"new_subgroups: group_size must divide the world size {world}, got {group_size}")
        groups = [self.new_group(range(start, start + group_size)) for start in range(0, world, group_size)]
        return groups[self._check() // group_size], groups

    def _table(self) -> GroupTable:
        if self._groups is None:
            self._groups = GroupTable(self._ctx.topo, self._world, self._sips)
        return self._groups

    @property
    def _sips(self) -> tuple[int, ...]:
        """The SIP of each world rank: a job's own, else rank = SIP."""
        return self._ctx.job or tuple(range(self._world))

    def _rank_of(self, sip: int) -> int:
        """``sip``'s world rank (itself outside a job)."""
        return self._sips.index(sip) if self._ctx.job else sip

    def _sip(self, rank: Any) -> Any:
        """The SIP of world rank ``rank``; anything else as it is (for the caller's check to refuse)."""
        if self._ctx.job and isinstance(rank, int) and 0 <= rank < len(self._ctx.job):
            return self._ctx.job[rank]
        return rank

    def _member(self, what: str, group: ProcessGroup | None) -> tuple[int, ProcessGroup]:
        """This worker's SIP and the group (default the world), which it must be in."""
        sip = self._check()
        group = group or self._table().world_group
        if group.rank_of(sip) < 0:
            raise GroupError(f"{what}: rank {sip} is not in {group}")
        return sip, group

    def is_initialized(self) -> bool:
        if not self._in_worker():
            return self._driver
        return self._driver or self._ctx.current_device() in self._members

    def get_rank(self, group: ProcessGroup | None = None) -> int:
        """This worker's rank (its SIP), or its rank in ``group`` (-1 outside it); outside host code, after a
        top-level ``init_process_group``, the single driver's rank 0 (ADR-0024 D9 of the seeds;
        ``KERNBENCH_DEBUG=1`` warns, as there)."""
        if not self._in_worker():
            self._check_driver("get_rank")
            if os.environ.get("KERNBENCH_DEBUG"):
                warnings.warn(
                    "get_rank() called outside a spawned worker: returning 0. Likely a bug unless "
                    "running single-driver.",
                    stacklevel=2,
                )
            return 0
        sip = self._check()
        return self._rank_of(sip) if group is None else group.rank_of(sip)

    def get_world_size(self, group: ProcessGroup | None = None) -> int:
        if not self._in_worker():
            self._check_driver("get_world_size")
            return self._world
        self._check()
        return self._world if group is None else group.size()

    def get_process_group_ranks(self, group: ProcessGroup) -> list[int]:
        return [self._rank_of(sip) for sip in group.ranks]

    def get_global_rank(self, group: ProcessGroup, group_rank: int) -> int:
        return self._rank_of(group.ranks[group_rank])

    def get_group_rank(self, group: ProcessGroup, global_rank: int) -> int:
        return group.rank_of(self._sips[global_rank])

    def get_backend(self, group: ProcessGroup | None = None) -> str:  # noqa: ARG002 - torch's signature
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

    # -- collectives ---------------------------------------------------------------------------------------------

    def barrier(self, group: ProcessGroup | None = None, async_op: bool = False) -> Work | None:
        """Return once every rank of ``group`` has reached its barrier: a dissemination barrier through the
        simulation (`kernbench.ccl.barrier`), after which every rank leaves at the same instant (``async_op=True``:
        a `Work` done then)."""
        sip, group = self._member("barrier", group)
        plan = self._install(group, sip)
        settings = self._barriers.get(group.gid)
        if settings is None:
            pes = [self._table().collective_pe(group, s) for s in group.ranks]
            settings = self._barriers[group.gid] = {
                "rounds": dissemination_barrier.directions(plan.geometry),
                "delay_ns": dissemination_barrier.release_delay_ns(
                    self._ctx.topo,
                    plan.geometry,
                    group.ranks if group.gid or self._ctx.job else None,
                    pes,
                    self._ctx.engine.scenario.down_at_start,
                ),
            }
        arrive_ps = math.ceil(self._ctx.engine.now() * dissemination_barrier.PS_PER_NS)  # up: never before now
        kwargs = {**settings, "arrive_ps": arrive_ps}
        return self._run("barrier", dissemination_barrier.kernel, (), self._leader(group, sip), async_op, group, kwargs)

    def all_reduce(
        self, tensor: Tensor, op: str = ReduceOp.SUM, group: ProcessGroup | None = None, async_op: bool = False
    ) -> Work | None:
        """Reduce ``tensor`` over the ranks of ``group`` (default all) in place with the ccl.yaml algorithm (same
        shape and dtype on every rank). Its shards must be laid out as the algorithm's validator asks (one shard on
        the leader PE for the SIP-to-SIP algorithms, one on every participating PE for the multi-PE ones);
        algorithms that reduce across PEs (``REDUCES_ACROSS_PES``) combine every participating shard of every
        rank."""
        self._check_op("all_reduce", op)
        sip, group = self._member("all_reduce", group)
        plan = self._install(group, sip)
        algo = self.plans(group).algo
        shards = self._own_shards("all_reduce", tensor)
        logical = self.plans()[self._rank_of(sip)].pes if group.gid == 0 else [LEADER]
        try:
            resolve_validator(algo.validator)(shards, logical, plan.geometry)
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
                        AllReduceRequest(
                            n_elem=min(block, n_elem - start),
                            world_size=plan.world_size,
                            dtype=tensor.dtype,
                            op=op,
                            slot_elems=algo.slot_size // size,
                            n_slots=algo.n_slots,
                            geometry=plan.geometry,
                            topology=algo.topology,
                        ),
                        **algo.kernel_config,
                    )
                ),
            )
            for start in range(0, n_elem, block)
        ]
        runs_on = dict(zip(logical, plan.pes, strict=True))
        ptrs = {runs_on[(s.cube, s.pe)]: (tensor.va + s.offset_bytes,) for s in shards}
        kwargs = {"kernel": module.kernel, "steps": steps}
        return self._run("all_reduce", _blockwise, (), plan.pes, async_op, group, kwargs=kwargs, pe_args=ptrs)

    def reduce_scatter_tensor(
        self,
        output: Tensor,
        input: Tensor,
        op: str = ReduceOp.SUM,
        group: ProcessGroup | None = None,
        async_op: bool = False,
    ) -> Work | None:
        """Rank r's ``output`` gets part r of the reduction of every rank's ``input`` (group size times as long)."""
        self._check_op("reduce_scatter_tensor", op)
        sip, group = self._member("reduce_scatter_tensor", group)
        n_out = self._leader_elements("reduce_scatter_tensor", output)
        n_in = self._leader_elements("reduce_scatter_tensor", input)
        self._same_dtype("reduce_scatter_tensor", output, input, n_in, n_out * group.size())
        args = (output.va, input.va, n_out, output.dtype, op, group.size(), self._slot(output), self._window)
        pes = self._leader(group, sip)
        return self._run("reduce_scatter_tensor", ring_reduce_scatter_kernel, args, pes, async_op, group, RING_DIRS)

    def all_gather_into_tensor(
        self, output: Tensor, input: Tensor, group: ProcessGroup | None = None, async_op: bool = False
    ) -> Work | None:
        """Every rank's ``output`` gets all ranks' ``input`` concatenated in rank order (ranks of ``group``)."""
        sip, group = self._member("all_gather_into_tensor", group)
        n_in = self._leader_elements("all_gather_into_tensor", input)
        n_out = self._leader_elements("all_gather_into_tensor", output)
        self._same_dtype("all_gather_into_tensor", input, output, n_out, n_in * group.size())
        args = (output.va, input.va, n_in, input.dtype, group.size(), self._slot(input), self._window)
        pes = self._leader(group, sip)
        return self._run("all_gather_into_tensor", ring_all_gather_kernel, args, pes, async_op, group, RING_DIRS)

    def broadcast(
        self,
        tensor: Tensor,
        src: int | None = None,
        group: ProcessGroup | None = None,
        async_op: bool = False,
        group_src: int | None = None,
    ) -> Work | None:
        """Every rank's ``tensor`` gets the values of rank ``src`` (a global rank, as torch's; or ``group_src``,
        its rank in ``group``)."""
        sip, group = self._member("broadcast", group)
        root = self._root("broadcast", group, self._sip(src), group_src)
        n = self._leader_elements("broadcast", tensor)
        args = (tensor.va, n, tensor.dtype, root, group.size(), self._slot(tensor), self._window)
        pes = self._leader(group, sip)
        return self._run("broadcast", ring_broadcast_kernel, args, pes, async_op, group, RING_DIRS)

    def reduce(
        self,
        tensor: Tensor,
        dst: int | None = None,
        op: str = ReduceOp.SUM,
        group: ProcessGroup | None = None,
        async_op: bool = False,
        group_dst: int | None = None,
    ) -> Work | None:
        """Rank ``dst`` (global; or ``group_dst`` in ``group``) gets the reduction of every rank's ``tensor``:
        reduced up the group's ring from both sides into it; the others' tensors are left as they were."""
        self._check_op("reduce", op)
        sip, group = self._member("reduce", group)
        root = self._root("reduce", group, self._sip(dst), group_dst)
        n = self._leader_elements("reduce", tensor)
        args = (tensor.va, n, tensor.dtype, op, root, group.size(), self._slot(tensor))
        pes = self._leader(group, sip)
        return self._run("reduce", ring_reduce_kernel, args, pes, async_op, group, RING_DIRS)

    def _leader(self, group: ProcessGroup, sip: int) -> list[tuple[int, int]]:
        """Where ``sip`` runs ``group``'s barrier and ring collectives (its queues installed first)."""
        self._install(group, sip)
        return [self._table().collective_pe(group, sip)]

    @staticmethod
    def _root(what: str, group: ProcessGroup, rank: int | None, group_rank: int | None) -> int:
        """A collective's root as a group rank, from a global rank or a group rank (exactly one given)."""
        if (rank is None) == (group_rank is None):
            keyword = "group_src" if what == "broadcast" else "group_dst"
            raise ValueError(f"{what}: give the root as a global rank or as {keyword}, one of them")
        if group_rank is not None:
            if not 0 <= group_rank < group.size():
                raise ValueError(f"{what}: the root must be a rank 0..{group.size() - 1} of {group}, got {group_rank}")
            return group_rank
        root = group.rank_of(rank) if isinstance(rank, int) else -1
        if root < 0:
            raise ValueError(f"{what}: the root must be one of {group}'s ranks {list(group.ranks)[:16]}, got {rank}")
        return root

    def _run(
        self,
        name: str,
        kernel,
        args: tuple,
        grid,
        async_op: bool,
        group: ProcessGroup,
        kwargs: dict | None = None,
        *,
        pe_args: dict | None = None,
        stream: str = "collectives",
    ) -> Work | None:
        """Launch ``kernel`` for ``group``, after this SIP's previous launch on the group's stream (its collectives'
        or its point-to-point one), with ``tl.rank`` its group rank."""
        sip = self._ctx.current_device()
        key = (sip, group.gid, stream)
        handle = self._ctx.launch_async(
            name,
            kernel,
            args,
            grid=list(grid),
            kwargs=kwargs,
            pe_args=pe_args,
            rank=group.rank_of(sip),
            after=self._streams.get(key),
        )
        self._streams[key] = handle
        work = Work(self._ctx, handle, f"kernel:{name}")
        if async_op:
            return work
        work.wait()
        return None

    @property
    def _world(self) -> int:
        return len(self._ctx.job) if self._ctx.job else world_size_of(self.algorithm, self._ctx.topo)

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

    def destroy_process_group(self, group: ProcessGroup | None = None) -> None:  # noqa: ARG002 - torch's signature
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
