"""Megatron-style tensor-parallel MLP over every SIP (rank = SIP): column- then row-parallel linear, vs numpy.

SPMD: ``run(torch)`` runs at the top level of every process and spawns one rank per SIP. y = x @ W1 @ W2 with
x (32, 256), W1 (256, 1024) split by columns and W2 (1024, 256) split by rows over the ranks, f16 with f32
accumulation; the row-parallel layer all-reduces the partial products. Checks the result against numpy (f16
tolerance) and that every rank holds the same bits.
"""

import numpy as np

from kernbench.runtime import DPPolicy
from kernbench.tp import ColumnParallelLinear, RowParallelLinear, initialize_model_parallel

SPMD = True
TOKENS, D_MODEL, HIDDEN = 32, 256, 1024


def weights() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2027)
    x = rng.standard_normal((TOKENS, D_MODEL)).astype(np.float16)
    w1 = (rng.standard_normal((D_MODEL, HIDDEN)) / np.sqrt(D_MODEL)).astype(np.float16)
    w2 = (rng.standard_normal((HIDDEN, D_MODEL)) / np.sqrt(HIDDEN)).astype(np.float16)
    return x, w1, w2


def worker(rank: int, torch) -> dict:
    dist = torch.distributed
    dist.init_process_group("ahbm")
    world = dist.get_world_size()
    initialize_model_parallel(world, torch=torch)
    x_np, w1, w2 = weights()
    part = HIDDEN // world
    with torch:
        fc1 = ColumnParallelLinear(D_MODEL, HIDDEN, torch=torch)
        fc2 = RowParallelLinear(HIDDEN, D_MODEL, torch=torch)
        fc1.weight.copy_(w1[:, rank * part : (rank + 1) * part])
        fc2.weight.copy_(w2[rank * part : (rank + 1) * part, :])
        x = torch.zeros((TOKENS, D_MODEL), dp=DPPolicy(num_cubes=1, num_pes=1))
        x.copy_(x_np)
        dist.barrier()
        start = torch.engine.now()
        y = fc2(fc1(x)).numpy()
        took = torch.engine.now() - start
    dist.destroy_process_group()
    return {"y": y, "ns": took}


def run(torch) -> dict:
    world = torch.topo.sip_count
    torch.multiprocessing.spawn(worker, args=(torch,), nprocs=world)
    results = torch.multiprocessing.results
    x, w1, w2 = (a.astype(np.float32) for a in weights())
    want = x @ w1 @ w2
    err = max(float(np.abs(r["y"].astype(np.float32) - want).max()) for r in results.values()) / float(
        np.abs(want).max()
    )
    return {
        "checks": {
            "matches_numpy": err < 2e-2,
            "same_bits_on_every_rank": len({r["y"].tobytes() for r in results.values()}) == 1,
        },
        "sim_latency_ns": max(r["ns"] for r in results.values()),
        "world_size": world,
        "tokens": TOKENS,
        "d_model": D_MODEL,
        "hidden": HIDDEN,
        "max_rel_err": err,
    }
