"""A user script: spawned rank 1 raises while rank 0 waits for it in an all_reduce; nothing catches it."""

from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.topology import load_topology

torch = RuntimeContext(Engine(load_topology("topology.yaml")))


def worker(rank):
    dist = torch.distributed
    dist.init_process_group("ahbm")
    if rank == 1:
        raise ValueError("boom in a worker")
    dist.all_reduce(torch.zeros((16,), "f32", dp=DPPolicy(num_cubes=1, num_pes=1), name="grad"))


torch.multiprocessing.spawn(worker, nprocs=2)
print("unreachable: spawn should have raised")
