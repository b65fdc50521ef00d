"""A two-layer tensor-parallel MLP (no activation): x @ W1 @ W2, W1 column-split, W2 row-split over the ranks."""

import numpy as np

from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.tp import (
    ColumnParallelLinear,
    RowParallelLinear,
    get_tensor_model_parallel_rank,
    get_tensor_model_parallel_world_size,
    initialize_model_parallel,
)

M, D, HIDDEN = 16, 64, 256


def weights(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, D)).astype(np.float16)
    w1 = (rng.standard_normal((D, HIDDEN)) / np.sqrt(D)).astype(np.float16)
    w2 = (rng.standard_normal((HIDDEN, D)) / np.sqrt(HIDDEN)).astype(np.float16)
    return x, w1, w2


def mlp_worker(rank: int, torch: RuntimeContext) -> dict:
    torch.distributed.init_process_group("ahbm")
    initialize_model_parallel(torch.distributed.get_world_size(), torch=torch)
    world, me = get_tensor_model_parallel_world_size(), get_tensor_model_parallel_rank()
    x_np, w1, w2 = weights()
    with torch:
        fc1 = ColumnParallelLinear(D, HIDDEN, torch=torch)
        fc2 = RowParallelLinear(HIDDEN, D, torch=torch)
        cols = HIDDEN // world
        fc1.weight.copy_(w1[:, me * cols:(me + 1) * cols])
        fc2.weight.copy_(w2[me * cols:(me + 1) * cols, :])
        x = torch.zeros((M, D), dp=DPPolicy(num_cubes=1, num_pes=1))
        x.copy_(x_np)
        start = torch.engine.now()
        h = fc1(x)
        y = fc2(h)
        took = torch.engine.now() - start
        gathered = ColumnParallelLinear(D, HIDDEN, gather_output=True, torch=torch)
        gathered.weight.copy_(w1[:, me * cols:(me + 1) * cols])
        full = gathered(x)
        out = {"rank": me, "world": world, "h": h.numpy(), "y": y.numpy(), "full": full.numpy(), "ns": took}
    torch.distributed.destroy_process_group()
    return out


def spawn_mlp(topo, **engine_kwargs) -> dict:
    torch = RuntimeContext(Engine(topo, **engine_kwargs))
    torch.multiprocessing.spawn(mlp_worker, args=(torch,))
    return torch.multiprocessing.results
