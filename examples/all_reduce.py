"""All-reduce on 2 SIPs with torch.distributed and torch.multiprocessing.spawn (rank = SIP).

Every rank fills a tensor with its own values, all-reduces it (sum) with the algorithm ccl.yaml selects (the
ring between the SIP leaders, by default), and checks the result against numpy. Time is simulated time: the
all-reduce is timed from the barrier before it, which every rank leaves at the same instant.

    python examples/all_reduce.py
"""

import numpy as np

from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.topology import DEFAULT_TOPOLOGY_PATH, load_topology

N = 1 << 16  # f32 elements per rank (256 KiB)


def values(rank: int) -> np.ndarray:
    return (np.arange(N) % 100 + rank).astype(np.float32)


def worker(rank: int, torch: RuntimeContext) -> dict:
    """One rank's host code, run in a host worker of SIP ``rank``."""
    dist = torch.distributed
    dist.init_process_group("ahbm")  # installs this SIP's IPCQ queues through the engine
    world = dist.get_world_size()
    with torch:  # frees the tensor at the end
        t = torch.zeros((N,), "f32", dp=DPPolicy(num_cubes=1, num_pes=1))  # one shard, on PE 0 of cube 0
        t.copy_(values(rank))  # host -> device
        dist.barrier()
        start = torch.engine.now()  # simulated ns
        dist.all_reduce(t)
        took_ns = torch.engine.now() - start
        ok = np.array_equal(t.numpy(), sum(values(r) for r in range(world)))
    return {"ok": bool(ok), "ns": took_ns}


def main() -> None:
    torch = RuntimeContext(Engine(load_topology(DEFAULT_TOPOLOGY_PATH)))  # one per process
    torch.multiprocessing.spawn(worker, args=(torch,))  # worker(rank, torch) for every SIP
    results = torch.multiprocessing.results  # rank -> what its worker returned
    slowest_us = max(r["ns"] for r in results.values()) / 1e3
    print(f"all_reduce of {N * 4} bytes on {len(results)} SIPs: {slowest_us:.2f} us simulated")
    print("PASS" if all(r["ok"] for r in results.values()) else "FAIL")


if __name__ == "__main__":
    main()
