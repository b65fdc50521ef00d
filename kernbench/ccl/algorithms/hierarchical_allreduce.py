"""Hierarchical all-reduce (ADR-0029 of the seeds): every participating PE of every rank contributes its tile.

Topology ``hierarchical_3level``, the seeds' neighbour table: a ring of the PEs of each cube (``E`` to the next PE,
``W`` to the previous), a ring of the cube leaders (``N`` to the next cube, ``S`` to the previous), and ``parent``
from each SIP leader to the next SIP's leader. The module's `neighbors` is the same table, so an entry with
``topology: none`` (as the seeds' older files have) wires the same queues. Levels 1 and 2 form one tree (each ring
reduced into its first member from both sides, `common.ring_links`, the cube rings hanging under the leaders'
ring), so the SIP leader gets its SIP's combination in about (PEs + cubes) / 2 piece hops; the SIP leaders
all-reduce by passing tiles along ``parent`` (the seeds' pair exchange with two SIPs; a one-way ring with more),
then the result goes back down.

Positions and counts come from ``tl.program_id`` / ``num_programs``: the ring order of ``hierarchical_3level``
(PEs and cubes in ascending order, the lowest one leading) when every cube runs the same PEs (mapper
``all_pes``, the default of an entry that names no mapper).
"""

from __future__ import annotations

from kernbench.ccl.algorithms.common import finalize, line_allreduce, nest, ring_links, tree_broadcast, tree_reduce
from kernbench.ccl.request import AllReduceRequest
from kernbench.ccl.topologies import hierarchical_3level
from kernbench.kernels import TLBase

REDUCES_ACROSS_PES = True
MAPPER = "all_pes"
VALIDATOR = "multi_pe_sip_local"
neighbors = hierarchical_3level


def kernel_args(request: AllReduceRequest) -> tuple:
    """The kernel's arguments: ``(n_elem, dtype, op, world_size, slot_elems, window = n_slots)``."""
    return request.n_elem, request.dtype, request.op, request.world_size, request.slot_elems, request.n_slots


def kernel(ptr: int, n_elem: int, dtype: str, op: str, world: int, slot_elems: int, window: int, tl: TLBase) -> None:
    """All-reduce ``n_elem`` values of ``dtype`` at ``ptr`` in place over every PE of ``world`` ranks."""
    pes, cubes = tl.num_programs(0), tl.num_programs(1)
    links = nest(ring_links(tl.program_id(0), pes, "E", "W"), ring_links(tl.program_id(1), cubes, "N", "S"))
    acc = tree_reduce(tl, tl.load(ptr, (n_elem,), dtype), links, op, slot_elems)
    if links[0] is None:  # the SIP leader
        acc = line_allreduce(tl, acc, tl.rank, world, "parent", "parent", op, True, slot_elems, window)
    acc = tree_broadcast(tl, acc, links, slot_elems)
    tl.store(ptr, finalize(acc, op, world * pes * cubes), dtype)
