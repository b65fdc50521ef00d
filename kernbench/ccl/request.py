"""What the runtime asks an all-reduce algorithm to do: the one argument of every algorithm's ``kernel_args``.

`Distributed.all_reduce` builds one per block of a tensor's shard and hands it to the selected ccl.yaml
algorithm's ``kernel_args(request, **kernel_config)``, which turns it into that algorithm's kernel arguments.
Each algorithm reads the fields it needs; a new field reaches every algorithm without changing their signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernbench.ccl.topologies import CclGeometry


@dataclass(frozen=True)
class AllReduceRequest:
    """One all-reduce call as a kernel sees it (per PE)."""

    n_elem: int
    """Elements this PE reduces in place."""
    world_size: int
    """Ranks (SIPs) taking part."""
    dtype: str
    op: str
    """``sum``, ``max``, ``min`` or ``avg``."""
    slot_elems: int
    """Elements per IPCQ slot (ccl.yaml ``slot_size`` / the dtype's size)."""
    n_slots: int
    """Slots per receive ring (ccl.yaml ``n_slots``): the window of a pipelined ring."""
    geometry: CclGeometry
    """The system as the algorithm sees it: SIPs, cubes, PEs, SIP topology."""
    topology: str
    """The entry's ccl.yaml ``topology``."""
