"""Reduce-scatter and all-gather beyond the PE's staging area stream through memory (kernbench.ccl.ring.streams),
and all-to-all is a ccl-perf op: right data at every size, busbw by nccl-tests' factor, the streaming ring near its
reference."""

from pathlib import Path

import pytest

from kernbench.ccl import load_ccl_config
from kernbench.ccl.algorithms.common import BLOCK_BYTES
from kernbench.ccl.ring import streams
from kernbench.cli.ccl_perf import run_sweep
from kernbench.engine import Engine
from kernbench.topology import load_topology

TOPOLOGY = str(Path(__file__).resolve().parents[3] / "topology.yaml")
MIB = 1 << 20


def sweep(op, sizes, sips=4):
    topo = load_topology(TOPOLOGY, sips=sips)
    return run_sweep(Engine(topo, report_requests=False), load_ccl_config(), op, sizes, "f32", 0)


def test_only_what_the_staging_area_cannot_hold_streams():
    assert not streams(BLOCK_BYTES)
    assert streams(BLOCK_BYTES + 4)


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter"])
def test_the_streaming_ring_is_right_and_near_its_reference(op):
    """4 MiB on 4 SIPs (the staged kernel refused it: a 4 MiB store does not fit the ~2 MB staging area): every
    element right, within 6 % of `ring_stream_ns`, and at least 70 % of the link's bandwidth."""
    [row] = sweep(op, [4 * MIB])
    assert row["wrong"] == 0
    assert row["sim_over_model"] == pytest.approx(1.0, abs=0.06)
    assert 70.0 <= row["busbw_gbs"] <= 100.0


def test_all_to_all_is_right_at_every_size_with_nccl_tests_busbw():
    rows = sweep("all_to_all", [8, 16, 1024, 256 * 1024])
    assert [r["size"] for r in rows] == [16, 1024, 256 * 1024]  # 8 B: two f32, not one per rank: left out
    for r in rows:
        assert r["wrong"] == 0, r
        assert r["count"] == r["size"] // 4
        assert r["busbw_gbs"] == pytest.approx(r["algbw_gbs"] * 3 / 4, rel=1e-12)
        assert r["sim_over_model"] == pytest.approx(1.0, abs=0.15)  # the pairwise exchange's reference
