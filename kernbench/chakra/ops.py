"""What each kind of node becomes on the simulated system: ``torch.distributed`` calls on buffers of the node's size,
PE DMAs between HBM and TCM, and compute time from the trace or from a roofline of the SIP.

Buffers are f32 tensors of ``ceil(size / 4)`` elements, rounded up where the op needs a multiple of the group size
(reduce-scatter's input, all-to-all's chunks) or of the all-reduce algorithm's shards. ``size`` is the node's
``comm_size`` as ASTRA-sim's system layer reads it: the buffer of all-reduce, reduce and broadcast, each rank's
input of all-gather (its output is group size times as large), the input of reduce-scatter, each rank's whole
buffer of all-to-all. They are allocated before the run, one set per (group, op, size), and reused: a group's
collectives run one at a time, and what they compute is not checked (the collectives' data is tested by their own
tests and by ``kernbench ccl-perf``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from kernbench.chakra.nodes import TraceNode
from kernbench.engine import PeDmaMsg
from kernbench.runtime import DPPolicy
from kernbench.runtime.groups import ProcessGroup
from kernbench.runtime.point_to_point import P2POp

if TYPE_CHECKING:
    from kernbench.runtime.context import RuntimeContext
    from kernbench.runtime.distributed import Work
    from kernbench.runtime.tensor import Tensor
    from kernbench.topology import Topology

DTYPE = "f32"
ITEM = 4
LEADER = DPPolicy(num_cubes=1, num_pes=1)
"""Where the ring collectives and point-to-point want their buffers: cube 0, PE 0 (`Distributed`)."""
MEM_CHUNK = 1 << 20
"""Bytes per DMA of a memory node: its traffic is split evenly over the SIP's cubes, each cube's in such pieces."""


def elements(size: int, multiple: int = 1) -> int:
    """f32 elements holding ``size`` bytes, rounded up to a multiple of ``multiple``."""
    n = -(-size // ITEM)
    return -(-n // multiple) * multiple


def roofline_ns(node: TraceNode, topo: Topology) -> float:
    """A compute node without a duration on the SIP's roofline: its ``num_ops`` at the GEMM units' peak (every PE),
    or its ``tensor_size`` bytes at the HBM's rate (every cube), whichever takes longer."""
    peak = topo.pes_per_sip * topo.pe.pe_gemm.flops_per_ns
    hbm = topo.cubes_per_sip * topo.cube.hbm_ctrl.cube_effective_bw_gbs
    return max((node.num_ops or 0) / peak, (node.tensor_size or 0) / hbm)


def compute_ns(node: TraceNode, topo: Topology, scale: float) -> float:
    """Device or host time of a node: ``duration_micros`` x ``scale``, or (device compute without a duration) the
    roofline."""
    if node.duration_us or node.kind != "compute":
        return node.duration_us * 1e3 * scale
    return roofline_ns(node, topo)


class Buffers:
    """One rank's communication buffers, made on first use (before the run: the feeder asks for every node's) and
    kept."""

    def __init__(self, torch: RuntimeContext) -> None:
        self.torch = torch
        self._made: dict[tuple, tuple[Tensor, Tensor]] = {}

    def _pair(self, key: tuple, n_in: int, n_out: int, policy: DPPolicy) -> tuple[Tensor, Tensor]:
        made = self._made.get(key)
        if made is None:
            a = self.torch.zeros((n_in,), DTYPE, dp=policy, name=f"chakra_{key[0]}_in")
            b = a if n_out == 0 else self.torch.zeros((n_out,), DTYPE, dp=policy, name=f"chakra_{key[0]}_out")
            made = self._made[key] = (a, b)
        return made

    def collective(self, op: str, size: int, group: ProcessGroup) -> tuple[Tensor, Tensor]:
        """(input, output) of collective ``op`` of ``size`` bytes on ``group`` (the same tensor when in place)."""
        g = group.size()
        if op == "all_reduce" and group.gid == 0:
            policy = self.torch.distributed.shard_policy()
            shards = (policy.num_cubes or 1) * (policy.num_pes or 1)
            return self._pair((op, group.gid, size), elements(size, shards), 0, policy)
        if op == "all_gather":
            n = elements(size)
            return self._pair((op, group.gid, size), n, n * g, LEADER)
        if op == "reduce_scatter":
            n = elements(size, g)
            return self._pair((op, group.gid, size), n, n // g, LEADER)
        if op == "all_to_all":
            n = elements(size, g)
            return self._pair((op, group.gid, size), n, n, LEADER)
        return self._pair((op, group.gid, size), elements(size), 0, LEADER)

    def message(self, node: TraceNode) -> Tensor:
        """The buffer a send reads or a receive fills."""
        return self._pair((node.kind, -1, node.size), elements(node.size), 0, LEADER)[0]


def start_collective(torch: RuntimeContext, op: str, group: ProcessGroup, buffers: tuple[Any, Any]) -> Work:
    """Launch collective ``op`` on ``group`` (rooted ops at its first rank) without waiting for it; ``buffers``:
    its (input, output) from `Buffers.collective` (none for a barrier)."""
    dist = torch.distributed
    a, out = buffers
    root = group.ranks[0]
    calls: dict[str, Any] = {
        "all_reduce": lambda: dist.all_reduce(a, group=group, async_op=True),
        "reduce": lambda: dist.reduce(a, dst=root, group=group, async_op=True),
        "broadcast": lambda: dist.broadcast(a, src=root, group=group, async_op=True),
        "all_gather": lambda: dist.all_gather_into_tensor(out, a, group=group, async_op=True),
        "reduce_scatter": lambda: dist.reduce_scatter_tensor(out, a, group=group, async_op=True),
        "all_to_all": lambda: dist.all_to_all_single(out, a, group=group, async_op=True),
        "barrier": lambda: dist.barrier(group=group, async_op=True),
    }
    work = calls[op]()
    assert work is not None
    return work


def start_messages(torch: RuntimeContext, batch: Sequence[tuple[TraceNode, int]], buffers: Buffers) -> Work:
    """The sends and receives that became ready together, as one ``batch_isend_irecv`` (receives posted first,
    so two ranks that send to each other at once do not wait on each other); ``batch``: (node, peer rank)."""
    dist = torch.distributed
    ops = [
        P2POp(dist.isend if node.kind == "send" else dist.irecv, buffers.message(node), peer, tag=node.tag)
        for node, peer in batch
    ]
    return dist.batch_isend_irecv(ops)[0]


@dataclass
class Scratch:
    """Where memory nodes move their bytes: a piece of every cube's HBM and of its PE 0's TCM."""

    hbm: Tensor
    tcm: Tensor

    @classmethod
    def of(cls, torch: RuntimeContext) -> Scratch:
        cubes = torch.topo.cubes_per_sip
        policy = DPPolicy(cube="row_wise", num_pes=1)
        hbm = torch.empty((cubes, MEM_CHUNK), "u8", dp=policy, memory="hbm", name="chakra_mem_hbm")
        return cls(hbm, torch.empty((cubes, MEM_CHUNK), "u8", dp=policy, memory="tcm", name="chakra_mem_tcm"))

    def start(self, torch: RuntimeContext, node: TraceNode) -> simpy.Event:
        """Every cube's share of the node's bytes, in `MEM_CHUNK` pieces, all issued at once: HBM to TCM for a load,
        TCM to HBM for a store. Its event fires when the last piece is done."""
        sip = torch.current_device()
        cubes = torch.topo.cubes_per_sip
        share = -(-node.size // cubes)
        handles = []
        pieces = zip(self.hbm.shards, self.hbm.shard_addrs, self.tcm.shard_addrs, strict=True)
        for spec, h, t in pieces:
            cube = spec.cube
            left = min(share, node.size - cube * share)
            while left > 0:
                n = min(left, MEM_CHUNK)
                src, dst = (h, t) if node.op == "load" else (t, h)
                handles.append(torch.engine.submit(PeDmaMsg(sip, cube, 0, src, dst, n)))
                left -= n
        env = torch.engine.sim.current_lp().env
        return simpy.AllOf(env, [handle.event for handle in handles])
