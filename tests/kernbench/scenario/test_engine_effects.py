"""What a scenario does to the engine, in closed form where there is one: a slower SIP's PE ops, jitter that is
the same on any number of ranks, a degraded link's rate, routes around a failed link (from the start and mid-run)."""

import pytest

from kernbench.engine import HEADER_BYTES, Engine, PeDmaMsg
from kernbench.kernels import FLOPS_PER_ELEMENT
from kernbench.runtime import RuntimeContext
from kernbench.scenario import LinkChange, Scenario
from kernbench.topology import PhysAddr
from tests.kernbench.engine.conftest import run_hosts
from tests.kernbench.helpers import with_sips

OPS = 40
ELEMENTS = 256
MIB = 1 << 20


def compute_only(tl):
    """OPS vector ops on a tile in registers: nothing but the PE_CPU's decode and the MATH unit."""
    x = tl.zeros((ELEMENTS,), "f32")
    for _ in range(OPS):
        x = tl.maximum(x, 1.0)


def launches(topo, scenario, sips=(0, 1), pes=((0, 0), (0, 1)), **engine_kwargs) -> dict[int, dict]:
    """`compute_only` on ``pes`` of each SIP of ``sips`` at once: each SIP's launch detail."""
    eng = Engine(topo, scenario=scenario, **engine_kwargs)
    details = {}

    def host(sip):
        details[sip] = RuntimeContext(eng).launch("busy", compute_only, grid=list(pes)).detail

    for sip in sips:
        if eng.is_local(sip):
            eng.spawn(sip, host)
    eng.run()
    return details


def test_a_slower_sip_takes_its_factor_longer_for_every_pe_op(topo):
    pe = topo.pe
    one_op = pe.pe_cpu.overhead_ns + pe.scheduler.overhead_ns + pe.pe_math.overhead_ns
    one_op += ELEMENTS * FLOPS_PER_ELEMENT["maximum"] / pe.pe_math.flops_per_ns
    got = launches(topo, Scenario(slowdowns=((1, 2.5),)))
    assert got[0]["exec_ns"] == pytest.approx(OPS * one_op, rel=1e-12)  # SIP 0 is untouched
    assert got[1]["exec_ns"] == pytest.approx(2.5 * OPS * one_op, rel=1e-12)
    for unit in ("cpu", "math"):
        assert got[1]["busy_ns"][unit] == pytest.approx(2.5 * got[0]["busy_ns"][unit], rel=1e-12)


def test_jitter_draws_per_pe_streams_the_same_on_any_number_of_ranks(topo):
    plain = launches(topo, Scenario())[0]["exec_ns"]
    jittery = Scenario(jitter=0.2, jitter_seed=7)
    one = launches(topo, jittery)
    assert one[0]["exec_ns"] != plain
    assert one[0]["exec_ns"] != one[1]["exec_ns"]
    assert one[0]["exec_ns"] == pytest.approx(plain, rel=0.1)  # mean-1 factors over 40 ops per PE
    assert launches(topo, jittery, transport="local", ranks=2) == one
    assert launches(topo, jittery, transport="local", ranks=2, partition="blocks", sync="window") == one
    assert launches(topo, Scenario(jitter=0.2, jitter_seed=8)) != one


def copy_once(topo, scenario, src=0, dst=1, nbytes=4 * MIB, start_ns=0.0, **kwargs):
    """One ``nbytes`` PE DMA from SIP ``src``'s TCM to SIP ``dst``'s HBM, started at ``start_ns``: its completion."""
    done = {}

    def host(eng, sip):
        eng.sleep_until(start_ns)
        msg = PeDmaMsg(sip, 0, 0, PhysAddr.tcm(sip, 0, 0, 0), PhysAddr.hbm(dst, 0, 0), nbytes)
        done["c"] = eng.wait(eng.submit(msg))

    run_hosts(topo, {src: host}, scenario=scenario, **kwargs)
    return done["c"]


def test_a_degraded_link_serialises_at_its_rate(topo):
    n = 4 * MIB
    healthy = copy_once(topo, Scenario())
    slow = copy_once(topo, Scenario(links=(LinkChange(0, 1, bandwidth_gbs=25.0),)))
    link = topo.system.inter_sip_link.bandwidth_gbs  # the healthy path's slowest stage
    # the data goes over it one way, the destination's acknowledgement (a header) back the other way
    assert slow.latency_ns - healthy.latency_ns == pytest.approx((n + HEADER_BYTES) * (1 / 25.0 - 1 / link), rel=1e-9)


def _sip_links(done) -> list[str]:
    return [hop.link for hop in done.hops if "->sip" in hop.link and hop.link.startswith("sip")]


def test_traffic_goes_round_a_failed_link(topo):
    ring = with_sips(topo, 4)
    direct = copy_once(ring, Scenario(), nbytes=4096)
    around = copy_once(ring, Scenario(links=(LinkChange(0, 1, down_from_ns=0.0),)), nbytes=4096)
    assert _sip_links(direct)[0] == "sip0->sip1"
    assert _sip_links(around)[:3] == ["sip0->sip3", "sip3->sip2", "sip2->sip1"]
    assert around.latency_ns > direct.latency_ns + 2 * topo.system.inter_sip_link.latency_ns


def test_a_link_that_fails_mid_run_finishes_what_is_on_it_and_later_traffic_reroutes(topo):
    ring = with_sips(topo, 4)
    fails = Scenario(links=(LinkChange(0, 1, down_from_ns=2_000.0),))
    on_it = copy_once(ring, fails, nbytes=MIB)  # on the link from about 0.1 us to 10 us: it finishes there
    after = copy_once(ring, fails, nbytes=4096, start_ns=3_000.0)
    assert on_it.end_ns > 2_000.0
    assert _sip_links(on_it)[0] == "sip0->sip1"
    assert _sip_links(after)[0] == "sip0->sip3"
    assert copy_once(ring, fails, nbytes=MIB, transport="local", ranks=4) == on_it
