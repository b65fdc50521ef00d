"""Tensor-parallel layers: numerics against numpy, identical outputs on every rank."""

from dataclasses import replace

import numpy as np
import pytest

from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.tp import ColumnParallelLinear, initialize_model_parallel

from .mlp import HIDDEN, spawn_mlp, weights


def f16_close(got, want):
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-2, atol=2e-2 * float(np.abs(want).max()))


@pytest.mark.parametrize("sips", [2, 4])
def test_column_row_and_mlp_match_numpy_and_agree_across_ranks(topo, sips):
    got = spawn_mlp(replace(topo, system=replace(topo.system, sip_count=sips)))
    x, w1, w2 = (a.astype(np.float32) for a in weights())
    hidden = x @ w1
    cols = HIDDEN // sips
    for rank, out in got.items():
        assert (out["rank"], out["world"]) == (rank, sips)
        f16_close(out["h"], hidden[:, rank * cols:(rank + 1) * cols])  # column-parallel: this rank's columns
        f16_close(out["full"], hidden)  # gather_output=True: every column, in order
        f16_close(out["y"], hidden @ w2)  # row-parallel + all-reduce: the whole MLP
    assert len({out["y"].tobytes() for out in got.values()}) == 1  # the all-reduced output is the same bits
    assert all(out["ns"] > 0 for out in got.values())


def test_sizes_must_divide_and_tp_must_span_the_world(topo):
    torch = RuntimeContext(Engine(topo))
    seen = []

    def fn(rank):
        torch.distributed.init_process_group()
        with pytest.raises(NotImplementedError, match="only tensor_model_parallel_size == world size"):
            initialize_model_parallel(1, torch=torch)
        initialize_model_parallel(2, torch=torch)
        try:
            ColumnParallelLinear(8, 7, torch=torch)
        except ValueError as exc:
            seen.append(str(exc))

    torch.multiprocessing.spawn(fn)
    assert seen == ["out_features (7) must be divisible by the tensor-parallel world size (2)"] * 2
