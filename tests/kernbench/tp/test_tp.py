"""Tensor-parallel layers: numerics against numpy, identical outputs on every rank."""

import numpy as np
import pytest

from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.tp import ColumnParallelLinear, RowParallelLinear, initialize_model_parallel
from tests.kernbench.helpers import assert_f16_close, with_sips

from .mlp import BENCH, spawn_mlp

ONE_PE = DPPolicy(num_cubes=1, num_pes=1)
HIDDEN = BENCH.HIDDEN


@pytest.mark.parametrize("sips", [2, 4])
def test_the_benchs_mlp_matches_numpy_and_agrees_across_ranks(topo, sips):
    got = spawn_mlp(with_sips(topo, sips))
    x, w1, w2 = (a.astype(np.float32) for a in BENCH.weights())
    assert sorted(got) == list(range(sips))
    for out in got.values():
        assert_f16_close(out["y"], x @ w1 @ w2)  # column- then row-parallel + all-reduce: the whole MLP
    assert len({out["y"].tobytes() for out in got.values()}) == 1  # the all-reduced output is the same bits
    assert all(out["ns"] > 0 for out in got.values())


def test_sizes_must_divide(topo):
    torch = RuntimeContext(Engine(topo))
    seen = []

    def fn(_rank):
        torch.distributed.init_process_group()
        with pytest.raises(ValueError, match=r"tensor \(3\) x pipeline \(1\) parallel size must divide the world"):
            initialize_model_parallel(3, torch=torch)
        initialize_model_parallel(2, torch=torch)
        try:
            ColumnParallelLinear(8, 7, torch=torch)
        except ValueError as exc:
            seen.append(str(exc))

    torch.multiprocessing.spawn(fn)
    assert seen == ["out_features (7) must be divisible by the tensor-parallel world size (2)"] * 2


def test_bias_and_a_full_input_for_the_row_layer(topo):
    """Column bias: each rank adds its block; row bias: added once after the all-reduce; input_is_parallel=False:
    each rank cuts its slice of the full input itself."""
    torch = RuntimeContext(Engine(topo))
    x, w1, w2 = BENCH.weights()
    rng = np.random.default_rng(5)
    b1, b2 = (rng.standard_normal(n).astype(np.float16) for n in (HIDDEN, w2.shape[1]))

    def fn(rank):
        torch.distributed.init_process_group()
        initialize_model_parallel(2, torch=torch)
        cols = HIDDEN // 2
        with torch:
            fc1 = ColumnParallelLinear(x.shape[1], HIDDEN, bias=True, gather_output=True, torch=torch)
            fc1.weight.copy_(w1[:, rank * cols : (rank + 1) * cols])
            fc1.bias.copy_(b1[rank * cols : (rank + 1) * cols])
            fc2 = RowParallelLinear(HIDDEN, w2.shape[1], bias=True, input_is_parallel=False, torch=torch)
            fc2.weight.copy_(w2[rank * cols : (rank + 1) * cols, :])
            fc2.bias.copy_(b2)
            xt = torch.zeros(x.shape, dp=ONE_PE)
            xt.copy_(x)
            part = ColumnParallelLinear(x.shape[1], HIDDEN, torch=torch)  # gather_output=False: this rank's columns
            part.weight.copy_(w1[:, rank * cols : (rank + 1) * cols])
            h = fc1(xt)
            return {"part": part(xt).numpy(), "h": h.numpy(), "y": fc2(h).numpy()}

    torch.multiprocessing.spawn(fn)
    hidden = x.astype(np.float32) @ w1.astype(np.float32) + b1.astype(np.float32)
    want = hidden @ w2.astype(np.float32) + b2.astype(np.float32)
    plain = x.astype(np.float32) @ w1.astype(np.float32)
    for rank, out in torch.multiprocessing.results.items():
        assert_f16_close(out["part"], plain[:, rank * HIDDEN // 2 : (rank + 1) * HIDDEN // 2])
        assert_f16_close(out["h"], hidden)
        assert_f16_close(out["y"], want)
    assert len({out["y"].tobytes() for out in torch.multiprocessing.results.values()}) == 1
