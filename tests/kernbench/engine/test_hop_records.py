"""An engine that reports no requests keeps no per-hop timings, and times every request exactly the same."""

from kernbench.engine import MemoryReadMsg, MemoryWriteMsg, PeDmaMsg
from kernbench.topology import PhysAddr
from tests.kernbench.helpers import with_sips

from .conftest import run_hosts
from .workload import BLOCK, block

SUMS = ("start_ns", "end_ns", "command_ns", "overhead_ns", "wire_ns", "queueing_ns")


def completions(topo, **engine_kwargs) -> dict:
    """Every SIP's host completions of a cross-SIP workload that queues: (request, sums, hops) per request."""
    n = topo.sip_count
    seen: dict[int, list] = {}

    def host(eng, sip):
        done = seen.setdefault(sip, [])
        done.append(eng.wait(eng.submit(MemoryWriteMsg(PhysAddr.tcm(sip, 0, 0, 0), data=block(sip)))))
        eng.sleep_until(5_000.0)
        dst = PhysAddr.hbm((sip + 1) % n, 1, 0)
        pushes = [
            eng.submit(PeDmaMsg(sip, 0, pe, PhysAddr.tcm(sip, 0, 0, 0), dst.offset_by(pe * BLOCK), BLOCK))
            for pe in (0, 1)
        ]  # two streams at once to the next SIP: they queue on its links
        done.extend(eng.wait(handle) for handle in pushes)
        eng.sleep_until(30_000.0)
        done.append(eng.wait(eng.submit(MemoryReadMsg(PhysAddr.hbm(sip, 1, 0), BLOCK))))

    run_hosts(topo, dict.fromkeys(range(n), host), **engine_kwargs)
    return {
        sip: [(c.request, tuple(getattr(c, key) for key in SUMS), c.hops) for c in done] for sip, done in seen.items()
    }


def test_requests_without_hop_records_time_the_same(topo):
    system = with_sips(topo, 4)
    with_hops = completions(system)
    without = completions(system, report_requests=False)
    assert any(sums[5] > 0 for done in with_hops.values() for _, sums, _ in done), "no request queued"
    assert all(hops for done in with_hops.values() for _, _, hops in done)
    assert all(hops == () for done in without.values() for _, _, hops in done)
    strip = {sip: [(req, sums) for req, sums, _ in done] for sip, done in with_hops.items()}
    assert {sip: [(req, sums) for req, sums, _ in done] for sip, done in without.items()} == strip
