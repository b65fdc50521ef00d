"""Host functions for torch.multiprocessing.spawn, shared by the single-process and the MPI tests."""

from dataclasses import replace

import numpy as np

from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext

ONE_PE = DPPolicy(num_cubes=1, num_pes=1)


def system(topo, sips: int, layout: str = "ring_1d"):
    return replace(topo, system=replace(topo.system, sip_count=sips, topology=layout))


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
