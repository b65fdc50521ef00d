"""Megatron-style tensor parallelism over the ranks (SIPs): group state, parallel linear layers and region mappings
(`kernbench.tp.primitives`)."""

from kernbench.tp.layers import ColumnParallelLinear, RowParallelLinear
from kernbench.tp.parallel_state import (
    destroy_model_parallel,
    get_tensor_model_parallel_rank,
    get_tensor_model_parallel_world_size,
    initialize_model_parallel,
    model_parallel_is_initialized,
)
from kernbench.tp.primitives import (
    copy_to_tp_region,
    gather_from_tp_region,
    reduce_from_tp_region,
    scatter_to_tp_region,
)

__all__ = [
    "ColumnParallelLinear",
    "RowParallelLinear",
    "copy_to_tp_region",
    "destroy_model_parallel",
    "gather_from_tp_region",
    "get_tensor_model_parallel_rank",
    "get_tensor_model_parallel_world_size",
    "initialize_model_parallel",
    "model_parallel_is_initialized",
    "reduce_from_tp_region",
    "scatter_to_tp_region",
]
