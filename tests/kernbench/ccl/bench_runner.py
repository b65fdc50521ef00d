"""Run the ccl_allreduce bench in this process on a chosen topology and ccl.yaml algorithm."""

from dataclasses import replace

import numpy as np

from kernbench.ccl import load_ccl_config
from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from tests.kernbench.helpers import load_script, with_sips

BENCH = load_script("kernbench/benches/ccl_allreduce.py")


def small_system(topo, sips: int, kind: str, cube_w: int = 2, cube_h: int = 2, pe_per_corner: int = 1):
    """``sips`` SIPs linked as ``kind``, each a ``cube_w x cube_h`` cube mesh of 4 corner PEs per cube by default."""
    mesh = replace(topo.sip.cube_mesh, w=cube_w, h=cube_h)
    layout = replace(topo.cube.pe_layout, pe_per_corner=pe_per_corner)
    return replace(
        with_sips(topo, sips, kind), sip=replace(topo.sip, cube_mesh=mesh), cube=replace(topo.cube, pe_layout=layout)
    )


def _ccl(algorithm: str, n_elem: int | None, ccl):
    ccl = (load_ccl_config() if ccl is None else ccl).with_algorithm(algorithm)
    if n_elem is not None:
        ccl.algorithms[algorithm] = replace(ccl.selected(), n_elem=n_elem)
    return ccl


def run_bench(topo, algorithm: str, n_elem: int | None = None, ccl=None, **engine_kwargs) -> dict:
    """The bench's result for ``algorithm`` of ``ccl`` (default: the shipped ccl.yaml)."""
    return BENCH.run(RuntimeContext(Engine(topo, **engine_kwargs), _ccl(algorithm, n_elem, ccl)))


def _timed_worker(rank: int, torch, n: int) -> tuple[float, float, bool]:
    """The bench's all-reduce without its barrier: (start, end, exact sums on every shard)."""
    dist = torch.distributed
    dist.init_process_group("ahbm")
    world, shards = dist.get_world_size(), len(dist.plans()[rank].pes)
    with torch:
        t = torch.zeros((shards * n,), "f32", dp=dist.shard_policy(), name="grad")
        t.copy_(np.concatenate([BENCH.shard_values(rank, k, n) for k in range(shards)]))
        start = torch.engine.now()
        dist.all_reduce(t)
        end = torch.engine.now()
        got = t.numpy().reshape(shards, n)
    across = getattr(dist.algorithm.load_module(), "REDUCES_ACROSS_PES", False)
    dist.destroy_process_group()
    return start, end, np.array_equal(got, BENCH.expected_sums(world, shards, n, across))


def time_allreduce(topo, algorithm: str, n_elem: int) -> float:
    """Simulated ns of one all-reduce of ``n_elem`` f32 per shard (the bench's layout and values) from a common
    start to the last rank's end. The bench's barrier lets ranks go at different times (one link latency apart
    on two SIPs), which would add the barrier's skew to the algorithm's time; without it every rank reaches the
    all-reduce at the same instant (the set-up is the same on every SIP), and this checks that it does."""
    torch = RuntimeContext(Engine(topo), _ccl(algorithm, n_elem, None))
    torch.multiprocessing.spawn(_timed_worker, args=(torch, n_elem), nprocs=torch.distributed.plans()[0].world_size)
    starts, ends, exact = zip(*torch.multiprocessing.results.values(), strict=True)
    assert all(exact), f"{algorithm}: wrong sums"
    assert len(set(starts)) == 1, f"{algorithm}: ranks start the all-reduce at {starts}"
    return max(ends) - starts[0]
