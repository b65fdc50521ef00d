"""All-reduce across the SIPs (rank = SIP) with the algorithm ccl.yaml selects; exact sums on every shard.

SPMD: ``run(torch)`` runs at the top level of every process (under mpirun too) and starts one rank per SIP with
``torch.multiprocessing.spawn``. Each rank lays its tensor out the way the algorithm's mapper asks (one shard on
the leader PE, one per cube leader, one per PE: ``n_elem`` f32 values each: the ``n_elem`` parameter, by default
the ccl.yaml entry's), fills it with small
integers, and calls ``dist.all_reduce``. Every shard must then hold the exact sum: over the same shard of every
rank, or over every shard of every rank for algorithms that reduce across PEs. Reports
``ALGO (ws=N): K OK`` (K: shards with the exact sum, over all ranks) and the all-reduce's simulated time as
nccl-tests times it: each rank from its release from the barrier before the call, whose ranks leave together;
the slowest rank's time is the latency, and ``time_min_ns`` / ``time_avg_ns`` / ``time_max_ns`` spread it over
the ranks (``slowest_rank``, and ``median_rank`` with its ``median_step_ns``, for ``kernbench run --compare``).
Pick another algorithm with ``kernbench run --bench ccl_allreduce --algorithm NAME`` (or ``--ccl FILE``), another
size with ``--set n_elem=N``.
"""

from functools import cache

import numpy as np

SPMD = True
PARAMS = {"n_elem": (0, "f32 elements per participating PE (0: the ccl.yaml algorithm's n_elem)", (0, None))}


def shard_values(rank: int, shard: int, n: int) -> np.ndarray:
    """Small integers, different per rank, shard and element: sums are exact in f32 in any order."""
    return ((np.arange(n) * 7 + rank * 3 + shard) % 17).astype(np.float32)


@cache
def expected_sums(world: int, shards: int, n: int, across_pes: bool) -> np.ndarray:
    """What every shard must hold after the all-reduce, in closed form: shard k's element i of rank r is
    ``(b + 3r) % 17`` with ``b = 7i + k``, so its sum over the ranks depends on ``b % 17`` alone (17 sums to
    make). A check that built every rank's shards would grow with the SIP count in every process and, made by
    the first worker to finish, stall that worker's rank for a round while the others wait."""
    per_residue = np.array([sum((c + 3 * r) % 17 for r in range(world)) for c in range(17)], dtype=np.float32)
    base = (np.arange(n)[None, :] * 7 + np.arange(shards)[:, None]) % 17
    total = per_residue[base]
    return np.broadcast_to(total.sum(axis=0), (shards, n)) if across_pes else total


def worker(rank: int, torch, n: int) -> dict:
    dist = torch.distributed
    dist.init_process_group("ahbm")
    world = dist.get_world_size()
    algo, plan = dist.algorithm, dist.plans()[rank]
    shards = len(plan.pes)
    with torch:
        t = torch.zeros((shards * n,), "f32", dp=dist.shard_policy(), name="grad")
        t.copy_(np.concatenate([shard_values(rank, k, n) for k in range(shards)]))
        dist.barrier()
        start = torch.engine.now()
        dist.all_reduce(t)
        took = torch.engine.now() - start
        got = t.numpy().reshape(shards, n)
    dist.destroy_process_group()
    want = expected_sums(world, shards, n, getattr(algo.load_module(), "REDUCES_ACROSS_PES", False))
    ok = int(sum(np.array_equal(got[k], want[k]) for k in range(shards)))
    return {
        "ok": ok,
        "shards": shards,
        "ns": took,
        "algorithm": algo.name,
        "digest": int(got.view(np.uint32).sum(dtype=np.uint64)),
    }


def run(torch, n_elem: int = 0) -> dict:
    if n_elem < 0:
        raise ValueError(f"n_elem must be >= 1 (or 0: the ccl.yaml algorithm's), got {n_elem}")
    n = n_elem or torch.ccl.selected().n_elem
    world = torch.distributed.plans()[0].world_size
    torch.multiprocessing.spawn(worker, args=(torch, n), nprocs=world)
    results = list(torch.multiprocessing.results.values())
    ok, total = sum(r["ok"] for r in results), sum(r["shards"] for r in results)
    name = results[0]["algorithm"]
    times = [r["ns"] for r in results]
    median = sorted(range(world), key=lambda r: (times[r], r))[(world - 1) // 2]
    return {
        "result": f"{name} (ws={world}): {ok} OK",
        "checks": {
            "exact_sum_on_every_shard": ok == total,
            "same_bits_on_every_rank": len({r["digest"] for r in results}) == 1,
        },
        "sim_latency_ns": max(times),
        "time_min_ns": min(times),
        "time_avg_ns": sum(times) / len(times),
        "time_max_ns": max(times),
        "algorithm": name,
        "world_size": world,
        "shards": total,
        "shards_ok": ok,
        "n_elem": n,
        "slowest_rank": max(range(world), key=lambda r: times[r]),
        "median_rank": median,
        "median_step_ns": times[median],
    }
