"""Megatron-style parallel linear layers over the ranks (SIPs) of the tensor-parallel group.

``ColumnParallelLinear``: the weight's output columns (and the bias) are split over the ranks; ``forward`` is a
local GEMM with the bias block (``gather_output=True`` then all-gathers the column blocks into the full output).
``RowParallelLinear``: the weight's input rows are split; ``forward`` multiplies the rank's input slice (cut from
the full input when ``input_is_parallel=False``), all-reduces the partial sums, then adds the whole bias once, as
Megatron does.
Weights and activations live on each rank's leader PE (cube 0, PE 0), f16, computed with f32 accumulation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kernbench.kernels import itemsize
from kernbench.kernels.gemm import gemm_kernel
from kernbench.runtime import DPPolicy
from kernbench.tp.parallel_state import (
    get_tensor_model_parallel_group,
    get_tensor_model_parallel_rank,
    get_tensor_model_parallel_world_size,
)

if TYPE_CHECKING:
    from kernbench.kernels.tl import TL
    from kernbench.runtime import RuntimeContext, Tensor

ON_LEADER = DPPolicy(num_cubes=1, num_pes=1)


def _split(what: str, size: int, world: int) -> int:
    if size % world:
        raise ValueError(f"{what} ({size}) must be divisible by the tensor-parallel world size ({world})")
    return size // world


class ColumnParallelLinear:
    """``y = x @ W`` with W (in_features, out_features) split by columns: this rank holds ``W[:, rank block]``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        gather_output: bool = False,
        dtype: str = "f16",
        *,
        torch: RuntimeContext,
    ) -> None:
        self.torch = torch
        self.world = get_tensor_model_parallel_world_size(torch)
        self.in_features, self.out_features = in_features, out_features
        self.out_local = _split("out_features", out_features, self.world)
        self.gather_output = gather_output
        self.dtype = dtype
        self.weight = torch.zeros((in_features, self.out_local), dtype, dp=ON_LEADER, name="column_parallel.weight")
        self.bias = torch.zeros((self.out_local,), dtype, dp=ON_LEADER, name="column_parallel.bias") if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x (M, in_features), the same on every rank -> (M, out_features / world), or (M, out_features)."""
        m = int(x.shape[0])
        local = self.torch.empty((m, self.out_local), self.dtype, dp=ON_LEADER, name="column_parallel.out")
        self.torch.launch(
            "column_parallel_gemm",
            gemm_kernel,
            x,
            self.weight,
            local,
            m,
            self.in_features,
            self.out_local,
            dtype=self.dtype,
            bias_ptr=_va(self.bias),
        )
        if not self.gather_output:
            return local
        gathered = self.torch.empty((self.world * m * self.out_local,), self.dtype, dp=ON_LEADER)
        self.torch.distributed.all_gather_into_tensor(
            gathered, local, group=get_tensor_model_parallel_group(self.torch)
        )
        full = self.torch.empty((m, self.out_features), self.dtype, dp=ON_LEADER, name="column_parallel.full")
        self.torch.launch(
            "column_blocks_to_rows", _blocks_to_rows_kernel, gathered, full, self.world, m, self.out_local, self.dtype
        )
        local.free()
        gathered.free()
        return full

    __call__ = forward


class RowParallelLinear:
    """``y = x @ W`` with W (in_features, out_features) split by rows; the partial products are all-reduced."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        input_is_parallel: bool = True,
        dtype: str = "f16",
        *,
        torch: RuntimeContext,
    ) -> None:
        self.torch = torch
        self.input_is_parallel = input_is_parallel
        self.world = get_tensor_model_parallel_world_size(torch)
        self.in_features, self.out_features = in_features, out_features
        self.in_local = _split("in_features", in_features, self.world)
        self.dtype = dtype
        self.weight = torch.zeros((self.in_local, out_features), dtype, dp=ON_LEADER, name="row_parallel.weight")
        self.bias = torch.zeros((out_features,), dtype, dp=ON_LEADER, name="row_parallel.bias") if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x (M, in_features / world), this rank's slice, or (M, in_features) with ``input_is_parallel=False``
        -> (M, out_features), the same on every rank."""
        m = int(x.shape[0])
        width = self.in_local if self.input_is_parallel else self.in_features
        if tuple(x.shape) != (m, width):
            raise ValueError(f"RowParallelLinear: input must be (M, {width}), got {tuple(x.shape)}")
        offset = 0 if self.input_is_parallel else get_tensor_model_parallel_rank(self.torch) * self.in_local
        out = self.torch.empty((m, self.out_features), self.dtype, dp=ON_LEADER, name="row_parallel.out")
        self.torch.launch(
            "row_parallel_gemm",
            gemm_kernel,
            x.va + offset * itemsize(self.dtype),
            self.weight,
            out,
            m,
            self.in_local,
            self.out_features,
            dtype=self.dtype,
            lda=width,
            grid=[(0, 0)],
        )
        self.torch.distributed.all_reduce(out, group=get_tensor_model_parallel_group(self.torch))
        if self.bias is not None:
            self.torch.launch("row_parallel_bias", _add_bias_kernel, out, self.bias, m, self.out_features, self.dtype)
        return out

    __call__ = forward


def _va(tensor: Tensor | None) -> int | None:
    return None if tensor is None else tensor.va


def _add_bias_kernel(out: int, bias: int, m: int, n: int, dtype: str, tl: TL) -> None:
    """``out[i, :] += bias`` for the (m, n) output (after the all-reduce, so the bias counts once)."""
    tl.store(out, tl.load(out, (m, n), dtype) + tl.load(bias, (1, n), dtype), dtype)


def _blocks_to_rows_kernel(src: int, dst: int, world: int, m: int, n: int, dtype: str, tl: TL) -> None:
    """(world, m, n) rank-major blocks -> (m, world * n) rows: rank r's block becomes columns r*n..(r+1)*n."""
    blocks = tl.load(src, (world * m * n,), dtype)
    rows = np.ascontiguousarray(blocks.value.reshape(world, m, n).transpose(1, 0, 2).reshape(m, world * n))
    tl.store(dst, tl.zeros((m, world * n), dtype) + rows, dtype)
