"""HBM controller: interleaving across slices, the per-request slice-rate channel, cube-wide parallelism."""

import itertools
import random
from dataclasses import replace

import numpy as np
import pytest
import simpy

from kernbench.components import HbmController, transfer
from kernbench.topology import hbm_slice

from .conftest import run_all

MIB = 1 << 20


def test_slice_shares_match_the_topology_interleave(topo):
    rng = random.Random(5)
    for slices, block in [(8, 4096), (3, 10), (1, 7), (4, 1)]:
        cfg = replace(topo.cube.hbm_ctrl, slices=slices, interleave_bytes=block)
        hbm = HbmController(simpy.Environment(), "hbm", cfg, 0.01)
        for _ in range(300):
            offset, n = rng.randrange(0, 50 * block * slices), rng.randrange(0, 7 * block * slices)
            byte_slices = (np.arange(offset, offset + n) // block) % slices  # the slice of every byte
            assert hbm.slice_bytes(offset, n) == np.bincount(byte_slices, minlength=slices).tolist()
            for b in rng.sample(range(offset, offset + n), min(n, 5)):
                assert hbm_slice(b, slices, block) == byte_slices[b - offset]


def test_fanout_touches_only_the_slices_of_the_access(topo):
    hbm = HbmController(simpy.Environment(), "hbm", topo.cube.hbm_ctrl, 0.01)
    one = hbm.fanout(3 * 4096 + 100, 200)
    assert [(link.name, n) for link, n in one.branches] == [("hbm.slice3", 200)]
    two = hbm.fanout(4096 - 8, 16)
    assert [(link.name, n) for link, n in two.branches] == [("hbm.slice0", 8), ("hbm.slice1", 8)]
    big = hbm.fanout(0, 64 * MIB)
    assert [n for _, n in big.branches] == [8 * MIB] * 8
    empty = hbm.fanout(9 * 4096, 0)
    assert [(link.name, n) for link, n in empty.branches] == [("hbm.slice1", 0)]  # still pays the access


def test_slices_run_at_effective_bandwidth_and_pay_access(topo):
    cfg = topo.cube.hbm_ctrl
    hbm = HbmController(simpy.Environment(), "hbm", cfg, 0.01, ports=["pe0"])
    assert cfg.effective_bw_gbs == pytest.approx(204.8)
    assert all(s.bandwidth_gbs == pytest.approx(204.8) and s.overhead_ns == 50.0 for s in hbm.slices)
    assert hbm.write_channel("pe0").bandwidth_gbs == pytest.approx(204.8)
    assert hbm.write_channel("pe0").wire_ns == pytest.approx(2.0 * 0.01)
    with pytest.raises(ValueError, match="no channel for crossbar port 'pe9'"):
        hbm.read_channel("pe9")
    with pytest.raises(ValueError, match=r"outside its size of 0xc00000000 bytes"):
        hbm.fanout(48 * (1 << 30) - 4, 8)
    assert hbm.memory.size == 48 * (1 << 30)


def test_a_single_large_pe_stream_reaches_slice_bandwidth(fabric, env):
    n = 64 * MIB
    write = fabric.transfer(("pe", 0, 0), ("hbm", 0), n)
    env.run()
    bw = write.value.bandwidth_gbs
    assert 204.8 * 0.98 < bw < 204.8
    read = fabric.transfer(("hbm", 0), ("pe", 0, 0), n, src_offset=n)
    env.run()
    assert 204.8 * 0.98 < read.value.bandwidth_gbs < 204.8


def test_blocks_in_different_slices_are_served_in_parallel(fabric, env):
    # eight PEs each write one 4 KiB block; block k lives in slice k
    spread = run_all(env, [fabric.transfer(("pe", 0, k), ("hbm", 0), 4096, dst_offset=k * 4096) for k in range(8)])
    assert len({t.end for t in spread}) == 1
    assert spread[0].latency_ns == pytest.approx(73.05, abs=1e-9)


def test_blocks_in_one_slice_queue(fabric, env):
    # eight PEs each write one 4 KiB block, all in slice 0 (every 8th block): the slice serves them one by one
    same = run_all(env, [fabric.transfer(("pe", 0, k), ("hbm", 0), 4096, dst_offset=k * 8 * 4096) for k in range(8)])
    ends = sorted(t.end for t in same)
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    assert gaps == pytest.approx([4096 / 204.8] * 7, abs=1e-9)
    assert fabric.cubes[0].hbm.slices[0].bytes_carried == 8 * 4096
    assert fabric.cubes[0].hbm.slices[1].bytes_carried == 0


def test_streams_from_several_pes_use_the_cube_bandwidth(fabric, env, topo):
    """8 PEs each read 8 MiB from their cube's HBM, 1 MiB at a time: every request spans all 8 slices (4 KiB
    interleave), so the slices serve the PEs' requests in turn, 1 MiB / 1638.4 GB/s = 640 ns each; each PE's own
    request drains at its channel's 204.8 GB/s (5120 ns, eight turns), so each PE's stream goes as if alone, the
    k-th in line k turns behind the first."""
    per_pe, request = 8 * MIB, 1 * MIB
    hbm, cube, pe = topo.cube.hbm_ctrl, topo.cube, topo.pe
    ends = []

    def reader(k):
        for i in range(0, per_pe, request):
            yield fabric.transfer(("hbm", 0), ("pe", 0, k), request, src_offset=k * per_pe + i)
        ends.append(env.now)

    for k in range(8):
        env.process(reader(k))
    env.run()
    fixed = (
        hbm.access_ns
        + cube.xbar.overhead_ns
        + pe.pe_tcm.access_ns
        + (hbm.wire_mm + cube.xbar.pe_wire_mm) * topo.system.ns_per_mm
    )  # 53.05 ns per request
    alone = (per_pe // request) * (fixed + request / hbm.effective_bw_gbs)  # 8 x 5173.05
    turn = request / (hbm.slices * hbm.effective_bw_gbs)  # 640 ns
    assert sorted(ends) == pytest.approx([alone + k * turn for k in range(8)], abs=1e-6)
    assert 8 * per_pe / max(ends) < hbm.slices * hbm.effective_bw_gbs  # 1463.2 GB/s, under the cube's 1638.4


def test_direct_transfer_through_slices(topo):
    env = simpy.Environment()
    hbm = HbmController(env, "hbm", topo.cube.hbm_ctrl, 0.01, ports=["pe0"])
    (t,) = run_all(env, [transfer([hbm.write_channel("pe0"), hbm.fanout(0, 8192)], 8192)])
    assert t.latency_ns == pytest.approx(0.02 + 50.0 + 8192 / 204.8, abs=1e-9)
    assert [h.link for h in t.hops] == ["hbm.wr[pe0]", "hbm.slice0", "hbm.slice1"]
