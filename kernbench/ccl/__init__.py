"""Collectives: install plans for IPCQ neighbours and the algorithms that run as kernels over them.

Above the kernels (algorithms are `tl` kernels) and below the runtime's ``torch.distributed``.
"""

from kernbench.ccl.ring import (
    REDUCE_OPS,
    ring_all_gather_kernel,
    ring_allreduce_kernel,
    ring_broadcast_kernel,
    ring_queues,
    ring_reduce_scatter_kernel,
)

__all__ = [
    "REDUCE_OPS",
    "ring_all_gather_kernel",
    "ring_allreduce_kernel",
    "ring_broadcast_kernel",
    "ring_queues",
    "ring_reduce_scatter_kernel",
]
