"""Every ccl.yaml algorithm on every SIP topology (ring_1d 2 SIPs, torus_2d 4, mesh_2d_no_wrap 4): exact sums.

Runs the ccl_allreduce bench (tensor laid out as the algorithm's mapper asks, a 4 KiB page of small integers per
shard, exact f32 sums) on a small system (2x2 cubes, 4 PEs each) so the whole matrix stays fast; the full-size
system runs in the CLI tests. Times are pinned in test_allreduce_timing.py.
"""

import pytest

from kernbench.ccl import load_ccl_config

from .bench_runner import run_bench, small_system

SYSTEMS = [("ring_1d", 2), ("torus_2d", 4), ("mesh_2d_no_wrap", 4)]


@pytest.mark.parametrize("algorithm", sorted(load_ccl_config().algorithms))
@pytest.mark.parametrize(("kind", "sips"), SYSTEMS, ids=[f"{k}-{n}" for k, n in SYSTEMS])
def test_every_algorithm_gives_the_exact_sum_on_every_shard(topo, algorithm, kind, sips):
    out = run_bench(small_system(topo, sips, kind), algorithm, n_elem=1024)
    assert out["checks"] == {"exact_sum_on_every_shard": True, "same_bits_on_every_rank": True}, out
    assert out["result"] == f"{algorithm} (ws={sips}): {out['shards']} OK"
    assert out["sim_latency_ns"] > 0
