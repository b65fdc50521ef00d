"""Ring all-reduce across every SIP (rank = SIP) with torch.distributed; exact sums on every rank.

SPMD: ``run(torch)`` runs at the top level of every process (under mpirun too) and starts one rank per SIP
with ``torch.multiprocessing.spawn``. Each rank all-reduces ``N_ELEM`` f32 values living on its leader PE
(cube 0, PE 0) over the IPCQ ring; the result must equal the numpy sum on every rank, bit for bit the same
everywhere. Reports ``ALGO (ws=N): K OK`` (K: ranks with the exact sum) and the all-reduce's simulated time.
"""

import numpy as np

from kernbench.runtime import DPPolicy

SPMD = True
ALGO = "ring"
N_ELEM = 65_536


def rank_values(rank: int) -> np.ndarray:
    return (np.arange(N_ELEM, dtype=np.float32) % 97 + rank).astype(np.float32)


def worker(rank: int, torch) -> dict:
    dist = torch.distributed
    dist.init_process_group("ahbm")
    world = dist.get_world_size()
    with torch:
        t = torch.zeros((N_ELEM,), "f32", dp=DPPolicy(num_cubes=1, num_pes=1))
        t.copy_(rank_values(rank))
        dist.barrier()
        start = torch.engine.now()
        dist.all_reduce(t)
        took = torch.engine.now() - start
        got = t.numpy()
    dist.destroy_process_group()
    want = np.sum([rank_values(r) for r in range(world)], axis=0)
    return {"ok": bool(np.array_equal(got, want)), "ns": took, "digest": int(got.view(np.uint32).sum(dtype=np.uint64))}


def run(torch) -> dict:
    world = torch.topo.sip_count
    torch.multiprocessing.spawn(worker, args=(torch,), nprocs=world)
    results = torch.multiprocessing.results
    ok = sum(1 for r in results.values() if r["ok"])
    return {
        "result": f"{ALGO} (ws={world}): {ok} OK",
        "checks": {"exact_sum_on_every_rank": ok == world,
                   "same_bits_on_every_rank": len({r["digest"] for r in results.values()}) == 1},
        "sim_latency_ns": max(r["ns"] for r in results.values()),
        "algorithm": ALGO, "world_size": world, "n_elem": N_ELEM, "ranks_ok": ok,
    }
