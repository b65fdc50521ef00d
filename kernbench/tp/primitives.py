"""Megatron's tensor-parallel region mappings, forward only (ADR-0027 D6 of the seeds).

- ``copy_to_tp_region(x)``: identity (backward would all-reduce).
- ``reduce_from_tp_region(x, torch)``: all-reduce ``x`` (sum) over the TP ranks, in place; returns ``x``.
- ``scatter_to_tp_region(x)``: this rank's block of ``x``'s last dimension (``x`` the same on every rank):
  ``(..., K)`` -> ``(..., K / world)``, columns ``rank * K / world ...``. A new tensor.
- ``gather_from_tp_region(x)``: every rank's ``x`` concatenated along the last dimension, rank order: ``(..., K)``
  -> ``(..., world * K)`` on every rank (an all-gather; the seeds deferred it for want of one). A new tensor.

Tensors live on the rank's leader PE (cube 0, PE 0, ``DPPolicy(num_cubes=1, num_pes=1)``) as the TP layers'
activations do. ``torch`` defaults to the runtime the tensor belongs to.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from kernbench.kernels import itemsize
from kernbench.runtime.placement import as_2d
from kernbench.tp.layers import ON_LEADER, _blocks_to_rows_kernel
from kernbench.tp.parallel_state import (
    get_tensor_model_parallel_group,
    get_tensor_model_parallel_rank,
    get_tensor_model_parallel_world_size,
)

if TYPE_CHECKING:
    from kernbench.kernels.tl import TL
    from kernbench.runtime import RuntimeContext, Tensor

__all__ = ["copy_to_tp_region", "gather_from_tp_region", "reduce_from_tp_region", "scatter_to_tp_region"]


def copy_to_tp_region(x: Tensor) -> Tensor:
    """Forward: identity. (Backward: all-reduce; training is future work.)"""
    return x


def reduce_from_tp_region(x: Tensor, torch: RuntimeContext | None = None) -> Tensor:
    """Forward: all-reduce (sum) over the TP ranks, in place. (Backward: identity.)"""
    torch = torch or x._ctx
    torch.distributed.all_reduce(x, op="sum", group=get_tensor_model_parallel_group(torch))
    return x


def scatter_to_tp_region(x: Tensor, torch: RuntimeContext | None = None) -> Tensor:
    """Forward: this rank's slice of the last dimension. (Backward: all-gather.)"""
    torch = torch or x._ctx
    world, rank = get_tensor_model_parallel_world_size(torch), get_tensor_model_parallel_rank(torch)
    m, k = as_2d(x.shape)
    if k % world:
        raise ValueError(
            f"scatter_to_tp_region: last dimension {k} of {x.name} is not divisible by the "
            f"tensor-parallel world size {world}"
        )
    width = k // world
    out = torch.empty((*x.shape[:-1], width) if x.shape else (width,), x.dtype, dp=ON_LEADER, name=f"{x.name}.scatter")
    size = itemsize(x.dtype)
    torch.launch(
        "scatter_to_tp_region",
        _columns_kernel,
        x.va + rank * width * size,
        out,
        m,
        width,
        k * size,
        x.dtype,
        grid=[(0, 0)],
        local_dims=False,
    )
    return out


def gather_from_tp_region(x: Tensor, torch: RuntimeContext | None = None) -> Tensor:
    """Forward: all-gather along the last dimension, rank order. (Backward: split.)"""
    torch = torch or x._ctx
    world = get_tensor_model_parallel_world_size(torch)
    m, k = as_2d(x.shape)
    gathered = torch.empty((world * math.prod(x.shape),), x.dtype, dp=ON_LEADER, name=f"{x.name}.gathered")
    torch.distributed.all_gather_into_tensor(gathered, x, group=get_tensor_model_parallel_group(torch))
    out = torch.empty(
        (*x.shape[:-1], world * k) if x.shape else (world,), x.dtype, dp=ON_LEADER, name=f"{x.name}.gather"
    )
    torch.launch(
        "gather_from_tp_region",
        _blocks_to_rows_kernel,
        gathered,
        out,
        world,
        m,
        k,
        x.dtype,
        grid=[(0, 0)],
        local_dims=False,
    )
    gathered.free()
    return out


def _columns_kernel(src: int, dst: int, m: int, width: int, row_stride: int, dtype: str, tl: TL) -> None:
    """Copy an (m, width) block whose rows are ``row_stride`` bytes apart into a contiguous (m, width) tensor."""
    tl.store(dst, tl.load(src, (m, width), dtype, row_stride=row_stride), dtype)
