"""SPMD bench: spawned rank 1 raises while rank 0 waits for it in an all_reduce."""

from kernbench.runtime import DPPolicy

SPMD = True


def worker(rank, torch):
    dist = torch.distributed
    dist.init_process_group("ahbm")
    if rank == 1:
        raise ValueError("boom in a worker")
    dist.all_reduce(torch.zeros((16,), "f32", dp=DPPolicy(num_cubes=1, num_pes=1), name="grad"))


def run(torch):
    torch.multiprocessing.spawn(worker, args=(torch,), nprocs=2)
    return {"checks": {"spawned": True}}
