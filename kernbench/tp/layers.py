"""Megatron-style parallel linear layers over the ranks (SIPs) of the TP group.

``ColumnParallelLinear``: the weight's output columns are split over the ranks; ``forward`` is a local GEMM
(``gather_output=True`` then all-gathers the column blocks into the full output). ``RowParallelLinear``: the
weight's input rows are split; ``forward`` multiplies the rank's input slice and all-reduces the partial sums.
Weights and activations live on each rank's leader PE (cube 0, PE 0), f16, computed with f32 accumulation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kernbench.kernels.gemm import gemm_kernel
from kernbench.runtime import DPPolicy
from kernbench.tp.parallel_state import get_tensor_model_parallel_world_size

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

    def __init__(self, in_features: int, out_features: int, bias: bool = False, gather_output: bool = False,
                 dtype: str = "f16", *, torch: RuntimeContext) -> None:
        if bias:
            raise NotImplementedError("ColumnParallelLinear: bias=True is not implemented")
        self.torch = torch
        self.world = get_tensor_model_parallel_world_size(torch)
        self.in_features, self.out_features = in_features, out_features
        self.out_local = _split("out_features", out_features, self.world)
        self.gather_output = gather_output
        self.dtype = dtype
        self.weight = torch.zeros((in_features, self.out_local), dtype, dp=ON_LEADER, name="column_parallel.weight")

    def forward(self, x: Tensor) -> Tensor:
        """x (M, in_features), the same on every rank -> (M, out_features / world), or (M, out_features)."""
        m = int(x.shape[0])
        local = self.torch.empty((m, self.out_local), self.dtype, dp=ON_LEADER, name="column_parallel.out")
        self.torch.launch("column_parallel_gemm", gemm_kernel, x, self.weight, local, m, self.in_features,
                          self.out_local, dtype=self.dtype)
        if not self.gather_output:
            return local
        gathered = self.torch.empty((self.world * m * self.out_local,), self.dtype, dp=ON_LEADER)
        self.torch.distributed.all_gather_into_tensor(gathered, local)
        full = self.torch.empty((m, self.out_features), self.dtype, dp=ON_LEADER, name="column_parallel.full")
        self.torch.launch("column_blocks_to_rows", _blocks_to_rows_kernel, gathered, full, self.world, m,
                          self.out_local, self.dtype)
        local.free()
        gathered.free()
        return full

    __call__ = forward


class RowParallelLinear:
    """``y = x @ W`` with W (in_features, out_features) split by rows; the partial products are all-reduced."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False, input_is_parallel: bool = True,
                 dtype: str = "f16", *, torch: RuntimeContext) -> None:
        if bias:
            raise NotImplementedError("RowParallelLinear: bias=True is not implemented")
        if not input_is_parallel:
            raise NotImplementedError("RowParallelLinear: input_is_parallel=False is not implemented")
        self.torch = torch
        self.world = get_tensor_model_parallel_world_size(torch)
        self.in_features, self.out_features = in_features, out_features
        self.in_local = _split("in_features", in_features, self.world)
        self.dtype = dtype
        self.weight = torch.zeros((self.in_local, out_features), dtype, dp=ON_LEADER, name="row_parallel.weight")

    def forward(self, x: Tensor) -> Tensor:
        """x (M, in_features / world), this rank's slice -> (M, out_features), the same on every rank."""
        m = int(x.shape[0])
        out = self.torch.empty((m, self.out_features), self.dtype, dp=ON_LEADER, name="row_parallel.out")
        self.torch.launch("row_parallel_gemm", gemm_kernel, x, self.weight, out, m, self.in_local,
                          self.out_features, dtype=self.dtype)
        self.torch.distributed.all_reduce(out)
        return out

    __call__ = forward


def _blocks_to_rows_kernel(src: int, dst: int, world: int, m: int, n: int, dtype: str, tl: TL) -> None:
    """(world, m, n) rank-major blocks -> (m, world * n) rows: rank r's block becomes columns r*n..(r+1)*n."""
    blocks = tl.load(src, (world * m * n,), dtype)
    rows = np.ascontiguousarray(blocks.value.reshape(world, m, n).transpose(1, 0, 2).reshape(m, world * n))
    tl.store(dst, tl.zeros((m, world * n), dtype) + rows, dtype)
