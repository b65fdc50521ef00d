"""Host functions for torch.multiprocessing.spawn, shared by the single-process and the MPI tests."""

import numpy as np

from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext

ONE_PE = DPPolicy(num_cubes=1, num_pes=1)


def values(rank: int, n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float32) % 13 + rank * 100).astype(np.float32)


def allreduce_worker(rank: int, torch: RuntimeContext, n: int, op: str, dtype: str) -> dict:
    dist = torch.distributed
    dist.init_process_group("ahbm")
    with torch:
        t = torch.zeros((n,), dtype, dp=ONE_PE)
        t.copy_(values(rank, n))
        start = torch.engine.now()
        dist.all_reduce(t, op=op)
        took = torch.engine.now() - start
        dist.barrier()
        out = {"rank": dist.get_rank(), "world": dist.get_world_size(), "result": t.numpy(), "ns": took}
    dist.destroy_process_group()
    return out


def spawn_allreduce(topo, n: int = 1000, op: str = "sum", dtype: str = "f32", **engine_kwargs) -> dict:
    engine = Engine(topo, **engine_kwargs)
    torch = RuntimeContext(engine)
    torch.multiprocessing.spawn(allreduce_worker, args=(torch, n, op, dtype), nprocs=topo.sip_count)
    return torch.multiprocessing.results


def collectives_worker(rank: int, torch: RuntimeContext, n: int) -> dict:
    """broadcast from rank 1, all_gather_into_tensor, reduce_scatter_tensor (sum and max), an async all_reduce."""
    dist = torch.distributed
    dist.init_process_group("ahbm")
    world = dist.get_world_size()
    with torch:
        b = torch.zeros((n,), "f32", dp=ONE_PE)
        b.copy_(values(rank, n))
        dist.broadcast(b, src=1)
        mine = torch.zeros((n,), "f32", dp=ONE_PE)
        mine.copy_(values(rank, n))
        gathered = torch.zeros((world * n,), "f32", dp=ONE_PE)
        dist.all_gather_into_tensor(gathered, mine)
        big = torch.zeros((world * n,), "f32", dp=ONE_PE)
        big.copy_(np.concatenate([values(rank + k, n) for k in range(world)]))
        part_sum, part_max = torch.zeros((n,), "f32", dp=ONE_PE), torch.zeros((n,), "f32", dp=ONE_PE)
        dist.reduce_scatter_tensor(part_sum, big, op="sum")
        dist.reduce_scatter_tensor(part_max, big, op="max")
        work = dist.all_reduce(mine, async_op=True)
        pending = work.is_completed()
        work.wait()
        out = {
            "broadcast": b.numpy(),
            "gathered": gathered.numpy(),
            "rs_sum": part_sum.numpy(),
            "rs_max": part_max.numpy(),
            "allreduce": mine.numpy(),
            "pending": pending,
        }
    dist.destroy_process_group()
    return out


def spawn_collectives(topo, n: int = 700, **engine_kwargs) -> dict:
    engine = Engine(topo, **engine_kwargs)
    torch = RuntimeContext(engine)
    torch.multiprocessing.spawn(collectives_worker, args=(torch, n))
    return torch.multiprocessing.results
