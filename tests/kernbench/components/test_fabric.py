"""One SIP's links from the default topology.yaml: routes, closed-form latencies, contention, memories.

Numbers used below, all from topology.yaml (ns_per_mm 0.01):
  PE port       pe_tcm.access 1.0 + xbar.overhead 2.0 = 3.0 ns, pe_wire 3 mm = 0.03 ns, 256 GB/s
  HBM channel   wire 2 mm = 0.02 ns (+ xbar 2.0 ns when it enters the crossbar), 256 x 0.8 = 204.8 GB/s
  HBM slice     access 50.0 ns, 204.8 GB/s
  UCIe crossing 2 x 8.0 + xbar 2.0 = 18.0 ns, 4 + 10 + 4 mm = 0.18 ns, 256 GB/s
"""

import pytest
import simpy

from kernbench.components import SipFabric, link_names
from kernbench.topology import PhysAddr, manhattan
from tests.kernbench.helpers import with_sips

from .conftest import run_all

KIB, MIB = 1 << 10, 1 << 20


def _latency(topo, src, dst, n, **offsets):
    env = simpy.Environment()
    proc = SipFabric(env, topo).transfer(src, dst, n, **offsets)
    env.run()
    return proc.value


def test_pe_to_local_hbm_closed_form(topo):
    t = _latency(topo, ("pe", 0, 0), ("hbm", 0), 4 * KIB)
    expected = (1.0 + 2.0) + 0.03 + 0.02 + 50.0 + 4096 / 204.8  # PE port, channel wire, slice access, drain
    assert t.latency_ns == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(73.05)
    assert t.overhead_ns == pytest.approx(53.0)
    assert t.wire_ns == pytest.approx(0.05)
    assert t.serialization_ns == pytest.approx(20.0, abs=1e-9)
    assert t.queueing_ns == 0.0
    big = _latency(topo, ("pe", 2, 7), ("hbm", 2), 1 * MIB, dst_offset=12345)
    assert big.latency_ns == pytest.approx(3.0 + 0.03 + 0.02 + 50.0 + MIB / 204.8, abs=1e-9)


def test_local_hbm_to_pe_read_closed_form(topo):
    t = _latency(topo, ("hbm", 0), ("pe", 0, 5), 4 * KIB, src_offset=4096)
    expected = 50.0 + (2.0 + 0.02) + (1.0 + 0.03) + 4096 / 204.8  # slice, channel into the xbar, port into TCM
    assert t.latency_ns == pytest.approx(expected, abs=1e-9)
    assert [h.link for h in t.hops] == ["sip0.cube0.hbm.slice1", "sip0.cube0.hbm.rd[pe5]", "sip0.cube0.xbar->pe5"]


def test_pe_to_remote_cube_hbm_closed_form(topo):
    east = _latency(topo, ("pe", 0, 0), ("hbm", 1), 4 * KIB)
    expected = 3.0 + 0.03 + (16.0 + 2.0) + 0.18 + 0.02 + 50.0 + 4096 / 204.8
    assert east.latency_ns == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(91.23)
    corner = _latency(topo, ("pe", 0, 0), ("hbm", 15), 1 * MIB)  # 3 hops east, 3 south
    expected = 3.0 + 0.03 + 6 * (18.0 + 0.18) + 0.02 + 50.0 + MIB / 204.8
    assert corner.latency_ns == pytest.approx(expected, abs=1e-9)
    assert corner.latency_ns == pytest.approx(5282.13, abs=1e-9)


def test_pcie_to_hbm_closed_form(topo):
    # PCIe EP (20 + NoC router 3, at PCIe 64 GB/s) -> NoC r0->r1 (3, 10 mm) -> UCIe into cube 4 (16 + xbar 2,
    # 5 + 4 mm, 128 GB/s) -> two crossings east -> HBM channel -> slice
    t = _latency(topo, ("pcie",), ("hbm", 6), 4 * KIB)
    expected = (20.0 + 3.0) + (3.0 + 0.1) + (18.0 + 0.09) + 2 * (18.0 + 0.18) + 0.02 + 50.0 + 4096 / 64.0
    assert t.latency_ns == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(194.57)


def test_sram_to_io_cpu_closed_form(topo):
    # SRAM port (5 + xbar 2, 2 mm) -> crossing west -> UCIe to IO router 3 (16 + router 3, 4 + 5 mm, 256 GB/s)
    # -> three NoC hops to the hub router (3 ns, 10 mm each) -> IO_CPU
    t = _latency(topo, ("sram", 13), ("io",), 4 * KIB)
    expected = (7.0 + 0.02) + (18.0 + 0.18) + (19.0 + 0.09) + 3 * (3.0 + 0.1) + 4096 / 256.0
    assert t.latency_ns == pytest.approx(expected, abs=1e-9)


def test_routes_follow_xy_and_count_one_crossing_per_hop(fabric, topo):
    mesh = topo.sip.cube_mesh
    for dst in range(mesh.n_cubes):
        names = link_names(fabric.route(("pe", 0, 1), ("sram", dst)))
        crossings = [n for n in names if ".ucie." in n]
        assert len(crossings) == manhattan(0, dst, mesh.w, mesh.h)
        assert names[0] == "sip0.cube0.pe1->xbar"
        assert names[-1] == f"sip0.cube{dst}.xbar->sram"
    assert link_names(fabric.route(("pe", 5, 0), ("hbm", 10))) == [
        "sip0.cube5.pe0->xbar",
        "sip0.cube5.ucie.E",  # x first ...
        "sip0.cube6.ucie.S",  # ... then y
        "sip0.cube10.hbm.wr[N]",  # entered cube 10 from the north
    ]
    assert link_names(fabric.path(("hbm", 5), ("io",), 4096))[:2] == ["sip0.cube5.hbm.slices", "sip0.cube5.hbm.rd[W]"]
    assert link_names(fabric.route(("pcie",), ("io",))) == ["sip0.io.pcie->noc", "sip0.io.noc->cpu"]


def test_latency_grows_with_hop_distance(topo):
    mesh = topo.sip.cube_mesh
    by_distance: dict[int, set[float]] = {}
    for dst in range(mesh.n_cubes):
        t = _latency(topo, ("pe", 0, 0), ("hbm", dst), 64 * KIB)
        by_distance.setdefault(manhattan(0, dst, mesh.w, mesh.h), set()).add(round(t.latency_ns, 9))
    assert all(len(v) == 1 for v in by_distance.values())  # same distance, same latency
    ordered = [next(iter(by_distance[d])) for d in sorted(by_distance)]
    assert ordered == sorted(ordered)
    assert len(set(ordered)) == len(ordered) == 7


def test_latency_grows_with_size(topo):
    latencies = [_latency(topo, ("pe", 3, 2), ("hbm", 12), n).latency_ns for n in (0, 64, 4 * KIB, 64 * KIB, MIB)]
    assert latencies == sorted(latencies)
    assert len(set(latencies)) == len(latencies)


def test_two_transfers_over_one_ucie_link_take_twice_as_long(fabric, env, topo):
    n = 4 * MIB
    alone = _latency(topo, ("pe", 0, 0), ("sram", 1), n)
    a, b = run_all(env, [fabric.transfer(("pe", 0, 0), ("sram", 1), n), fabric.transfer(("pe", 0, 1), ("sram", 1), n)])
    assert a.latency_ns == pytest.approx(alone.latency_ns, abs=1e-9)
    assert b.latency_ns / alone.latency_ns == pytest.approx(2.0, rel=0.01)
    assert b.queueing_ns == pytest.approx(n / 256.0, abs=1e-9)  # it waited for the first on the crossing


def test_head_of_line_blocking_at_a_pe_port(fabric, env, topo):
    small = 256
    long_t, blocked = run_all(
        env,
        [fabric.transfer(("pe", 0, 0), ("hbm", 1), 4 * MIB), fabric.transfer(("pe", 0, 0), ("sram", 0), small)],
    )
    alone = _latency(topo, ("pe", 0, 0), ("sram", 0), small)
    assert blocked.queueing_ns == pytest.approx(4 * MIB / 256.0, abs=1e-9)  # behind 4 MiB on the shared PE port
    assert blocked.hops[1].queued_ns == 0.0  # the SRAM port itself was idle
    assert blocked.latency_ns == pytest.approx(alone.latency_ns + 4 * MIB / 256.0, abs=1e-9)
    other_pe = _latency(topo, ("pe", 0, 1), ("sram", 0), small)
    assert other_pe.latency_ns == pytest.approx(alone.latency_ns, abs=1e-9)
    assert long_t.queueing_ns == 0.0


def test_runs_are_deterministic(topo):
    def scenario():
        env = simpy.Environment()
        fabric = SipFabric(env, topo)
        procs = [fabric.transfer(("pe", c % 16, c % 8), ("hbm", (c * 7) % 16), 4096 * (c + 1)) for c in range(40)]
        procs += [fabric.transfer(("pcie",), ("hbm", c), 8192, dst_offset=c * 4096) for c in range(16)]
        return run_all(env, procs)

    first, second = scenario(), scenario()
    assert first == second
    assert any(t.queueing_ns > 0 for t in first)  # the scenario does contend


def test_link_inventory(fabric, topo):
    names = set(fabric.links)
    assert len(names) == len(fabric.links)
    mesh_crossings = [n for n in names if ".ucie." in n and "io." not in n]
    assert len(mesh_crossings) == 2 * (2 * 4 * 3) + 4  # both directions of 24 mesh edges, plus 4 cube -> IO
    assert sum(1 for n in names if n.startswith("sip0.io.r")) == 4  # IO -> cube UCIe links
    assert {"sip0.cube0.hbm.wr[W]", "sip0.cube0.hbm.wr[E]", "sip0.cube0.hbm.wr[S]"} <= names
    assert "sip0.cube0.hbm.wr[N]" not in names  # cube 0 has no northern neighbour
    assert fabric.links["sip0.cube5.ucie.E"].bandwidth_gbs == 256.0
    assert fabric.links["sip0.io.pcie->noc"].bandwidth_gbs == 64.0
    # the default system is a ring of two: sip0's one link leaves east, sip1's west, each with its own SerDes port
    assert {n for n in names if "serdes" in n} == {"sip0.serdes.E", "sip0.io.serdes.E->noc"}
    sip1 = {n.replace("sip0.", "sip1.", 1).replace("serdes.E", "serdes.W") for n in names}
    assert SipFabric(simpy.Environment(), topo, sip=1).links.keys() == sip1


def test_every_inter_sip_link_has_its_own_serdes_port(topo):
    """A torus SIP has four links: four SerDes ports on the hub router, each a link of its own each way, so
    routes towards two directions share no SerDes link."""
    fabric = SipFabric(simpy.Environment(), with_sips(topo, 16, "torus_2d"), sip=5)
    out = {d: link_names(fabric.route(("pe", 0, 0), ("serdes", d))) for d in "EWNS"}
    assert {d: names[-1] for d, names in out.items()} == {d: f"sip5.serdes.{d}" for d in "EWNS"}
    assert len({names[-1] for names in out.values()}) == 4
    assert out["E"][:-1] == out["S"][:-1]  # the same way to the hub, then each direction's port
    assert link_names(fabric.route(("serdes", "W"), ("serdes", "E"))) == ["sip5.io.serdes.W->noc", "sip5.serdes.E"]
    with pytest.raises(ValueError, match="sip0 has no inter-SIP link towards it"):
        SipFabric(simpy.Environment(), topo, sip=0).route(("pe", 0, 0), ("serdes", "W"))


def test_memories_by_physical_address(fabric):
    assert fabric.memory(PhysAddr.hbm(0, 3, 0)) is fabric.cubes[3].hbm.memory
    assert fabric.memory(PhysAddr.sram(0, 3, 0)) is fabric.cubes[3].sram
    assert fabric.memory(PhysAddr.m_cpu(0, 3, 0)) is fabric.cubes[3].m_cpu_mem
    assert fabric.memory(PhysAddr.tcm(0, 3, 7, 0)) is fabric.cubes[3].tcm[7]
    assert fabric.memory(PhysAddr.io(0, 0)) is fabric.io.memory
    assert fabric.cubes[3].tcm[7].size == 16 * MIB
    assert fabric.cubes[3].sram.size == 32 * MIB
    mem = fabric.memory(PhysAddr.tcm(0, 1, 2, 0))
    mem.write(100, b"abc")
    assert fabric.cubes[1].tcm[2].read(100, 3).tobytes() == b"abc"
    with pytest.raises(ValueError, match="belongs to sip1"):
        fabric.memory(PhysAddr.hbm(1, 0, 0))
    with pytest.raises(ValueError, match="cube 16 out of range"):
        fabric.memory(PhysAddr.hbm(0, 16, 0))
    with pytest.raises(ValueError, match="pe 8 out of range"):
        fabric.memory(PhysAddr.tcm(0, 0, 8, 0))


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        (("pe", 0, 0), ("pe", 0, 0), "same endpoint"),
        (("io",), ("io",), "same endpoint"),
        (("pe", 0), ("hbm", 0), "has 2 index field"),
        (("hbm", 16), ("pe", 0, 0), r"cube must be 0\.\.15, got 16"),
        (("pe", 0, 8), ("hbm", 0), r"pe must be 0\.\.7, got 8"),
        (("gpu", 0), ("hbm", 0), "expected"),
        (("hbm", 0), ("sram", True), "cube must be an int"),
        ("pcie", ("io",), "expected"),
    ],
)
def test_bad_endpoints(fabric, src, dst, message):
    with pytest.raises(ValueError, match=message):
        fabric.route(src, dst)
