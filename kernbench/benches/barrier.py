"""The process group's barrier: its latency from the last arrival, and how far apart the ranks leave it.

SPMD: one rank per SIP. Every rank passes one barrier to line up, then arrives at a second one: all at once, or
with rank ``straggler`` arriving ``delay_us`` later than the others. Reports ``latency_ns`` (from the last
arrival until the last rank leaves), ``first_release_ns`` (until the first one leaves) and ``skew_ns`` (first
to last release: what a collective timed from the barrier carries). Checks that no rank leaves before the last
one has arrived. The barrier is a dissemination barrier (ceil(log2 p) rounds over
the routed SIP network: docs/adr/0019).
"""

import numpy as np

SPMD = True
PARAMS = {
    "straggler": (-1, "rank that arrives late (-1: none)"),
    "delay_us": (10.0, "how much later the straggler arrives, in simulated us"),
}


def worker(rank: int, torch, straggler: int, delay_ns: float) -> tuple[float, float]:
    dist = torch.distributed
    dist.init_process_group("ahbm")
    dist.barrier()  # line up: every rank leaves this one about together
    arrive = torch.engine.now()
    if rank == straggler:
        arrive += delay_ns
        torch.engine.sleep_until(arrive)
    dist.barrier()
    leave = torch.engine.now()
    dist.destroy_process_group()
    return arrive, leave


def run(torch, straggler: int = -1, delay_us: float = 10.0) -> dict:
    world = torch.distributed.plans()[0].world_size
    if not -1 <= straggler < world:
        raise ValueError(f"straggler must be a rank 0..{world - 1} (or -1: none), got {straggler}")
    if not delay_us >= 0:
        raise ValueError(f"delay_us must be >= 0, got {delay_us}")
    torch.multiprocessing.spawn(worker, args=(torch, straggler, delay_us * 1e3), nprocs=world)
    results = torch.multiprocessing.results
    arrive = np.array([results[r][0] for r in range(world)])
    leave = np.array([results[r][1] for r in range(world)])
    last = float(arrive.max())
    return {
        "result": f"barrier of {world} ranks: {(leave.max() - last) / 1e3:.3f} us, skew {np.ptp(leave):.2f} ns",
        "checks": {"no_rank_leaves_before_the_last_arrives": bool((leave >= last).all())},
        "sim_latency_ns": float(leave.max() - last),
        "latency_ns": float(leave.max() - last),
        "skew_ns": float(np.ptp(leave)),
        "first_release_ns": float(leave.min() - last),
        "world_size": world,
    }
