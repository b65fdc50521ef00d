"""Megatron-style tensor parallelism over the ranks (SIPs): group state and parallel linear layers."""

from kernbench.tp.layers import ColumnParallelLinear, RowParallelLinear
from kernbench.tp.parallel_state import (
    destroy_model_parallel,
    get_tensor_model_parallel_rank,
    get_tensor_model_parallel_world_size,
    initialize_model_parallel,
    model_parallel_is_initialized,
)

__all__ = [
    "ColumnParallelLinear",
    "RowParallelLinear",
    "destroy_model_parallel",
    "get_tensor_model_parallel_rank",
    "get_tensor_model_parallel_world_size",
    "initialize_model_parallel",
    "model_parallel_is_initialized",
]
