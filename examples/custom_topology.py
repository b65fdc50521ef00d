"""A system of your own: 4 SIPs on a 2x2 torus, with inter-SIP links of 500 ns (the shipped latency) and of
100 ns, and what that does to a small all-reduce, whose time is mostly link latency.

The topology is the shipped topology.yaml with a few keys changed, validated by `parse_topology` as a file would
be (a bad value is a `TopologyError` naming the key). Every key: docs/reference/topology.md.

    python examples/custom_topology.py
"""

import numpy as np
import yaml

from kernbench.ccl import load_ccl_config
from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.topology import DEFAULT_TOPOLOGY_PATH, Topology, parse_topology

N = 1024  # f32 elements per rank (4 KiB)


def worker(rank: int, torch: RuntimeContext) -> tuple[float, bool]:
    dist = torch.distributed
    dist.init_process_group()
    t = torch.zeros((N,), "f32", dp=dist.shard_policy())  # laid out as the ccl.yaml algorithm needs
    t.copy_(np.full(N, rank, np.float32))
    dist.barrier()
    start = torch.engine.now()
    dist.all_reduce(t)
    return torch.engine.now() - start, bool((t.numpy() == sum(range(dist.get_world_size()))).all())


def all_reduce_us(topo: Topology, algorithm: str) -> float:
    """The slowest rank's all-reduce time on a fresh system, in simulated us; fails on a wrong sum."""
    torch = RuntimeContext(Engine(topo, report_requests=False), load_ccl_config().with_algorithm(algorithm))
    torch.multiprocessing.spawn(worker, args=(torch,))
    results = torch.multiprocessing.results.values()
    if not all(ok for _, ok in results):
        raise RuntimeError("all_reduce gave wrong sums")
    return max(ns for ns, _ in results) / 1e3


def main() -> None:
    for latency_ns in (500.0, 100.0):
        raw = yaml.safe_load(DEFAULT_TOPOLOGY_PATH.read_text())
        raw["system"]["sip_count"] = 4
        raw["system"]["topology"] = "torus_2d"
        raw["system"]["inter_sip_link"]["latency_ns"] = latency_ns
        topo = parse_topology(raw, f"torus, {latency_ns:g} ns links")
        us = all_reduce_us(topo, "mesh_allreduce")  # along the rows, then the columns of the 2x2 grid
        print(f"{topo.source}: {topo.sip_count} SIPs, all_reduce of {N * 4} bytes: {us:.2f} us")
    print("PASS")


if __name__ == "__main__":
    main()
