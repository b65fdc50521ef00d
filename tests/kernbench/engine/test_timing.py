"""Latencies of single requests against their closed form, written out from the topology's fields."""

import numpy as np
import pytest

from kernbench.engine import HEADER_BYTES, MemoryWriteMsg, PeDmaMsg
from kernbench.topology import PhysAddr
from tests.kernbench.helpers import with_sips

from .conftest import run_hosts


def one(topo, msg, sip=0):
    """Run one request alone on a fresh engine and return its Completion."""
    out = []
    run_hosts(topo, {sip: lambda eng, _s: out.append(eng.wait(eng.submit(msg)))})
    return out[0]


@pytest.mark.parametrize("nbytes", [64, 4096, 65536])
def test_pe_local_hbm_read_is_the_closed_form(topo, nbytes):
    """HBM of cube 0 -> TCM of its PE 0: each part of the latency against its own closed form."""
    offset = 0  # within one 4 KiB interleave block up to 4 KiB: one slice; above, every slice in parallel
    msg = PeDmaMsg(0, 0, 0, src=PhysAddr.hbm(0, 0, offset), dst=PhysAddr.tcm(0, 0, 0, 0), nbytes=nbytes)
    c = one(topo, msg)
    cube, pe = topo.cube, topo.pe
    command = pe.pe_dma.overhead_ns  # the PE's DMA engine takes the command: 10
    overhead = cube.hbm_ctrl.access_ns + cube.xbar.overhead_ns + pe.pe_tcm.access_ns  # 50 + 2 + 1
    wire = (cube.hbm_ctrl.wire_mm + cube.xbar.pe_wire_mm) * topo.system.ns_per_mm  # (2 + 3) mm x 0.01 ns/mm
    slice_bw = cube.hbm_ctrl.xbar_to_hbm_bw_gbs * cube.hbm_ctrl.efficiency  # 204.8: the channel
    pe_bw = min(pe.pe_dma.bandwidth_gbs, cube.xbar.bandwidth_gbs, pe.pe_tcm.bandwidth_gbs)  # 256
    drain = nbytes / min(slice_bw, pe_bw)
    assert c.command_ns == command
    assert c.overhead_ns == pytest.approx(overhead, abs=1e-9)
    assert c.wire_ns == pytest.approx(wire, abs=1e-9)
    assert c.queueing_ns == 0.0
    assert c.serialization_ns == pytest.approx(drain, abs=1e-9)
    assert c.latency_ns == pytest.approx(command + overhead + wire + drain, abs=1e-9)


def test_h2d_write_is_the_closed_form(topo):
    n = 4096
    c = one(topo, MemoryWriteMsg(PhysAddr.hbm(0, 0, 0), data=np.ones(n, np.uint8)))
    sysc, sip, cube = topo.system, topo.sip, topo.cube
    host = sysc.host.overhead_ns + sysc.host.pcie.latency_ns  # host -> switch segment
    switch = sysc.switch.overhead_ns + sysc.host.pcie.latency_ns  # switch -> SIP segment
    ep = sip.io_chiplet.pcie_ep.overhead_ns + sip.io_chiplet.noc.overhead_ns  # PCIe endpoint into the hub router
    pcie_bw = min(sysc.host.pcie.bandwidth_gbs, sysc.switch.bandwidth_gbs, sip.io_chiplet.noc.bandwidth_gbs)
    header = host + switch + ep + HEADER_BYTES / pcie_bw  # then hub -> IO_CPU (no overhead, no wire)
    io_cpu = sip.io_chiplet.io_cpu.overhead_ns
    # cube 0 is on the west edge next to router 0 (the hub): IO UCIe into cube 0, its HBM write channel, a slice
    ucie_in = sip.ucie.overhead_ns * 2 + cube.xbar.overhead_ns
    wire = (sip.io_chiplet.wire_mm + cube.xbar.ucie_wire_mm + cube.hbm_ctrl.wire_mm) * sysc.ns_per_mm
    data = host + switch + ep + ucie_in + cube.hbm_ctrl.access_ns + wire + n / pcie_bw
    assert c.latency_ns == pytest.approx(header + io_cpu + data, abs=1e-9)
    assert c.command_ns == io_cpu


def test_cross_sip_pe_dma_is_the_closed_form(topo):
    """TCM of sip0/cube0/pe0 -> HBM of sip1/cube0, then the acknowledgement back to the PE."""
    n = 4096
    c = one(topo, PeDmaMsg(0, 0, 0, src=PhysAddr.tcm(0, 0, 0, 0), dst=PhysAddr.hbm(1, 0, 0), nbytes=n))
    sysc, sip, cube, pe = topo.system, topo.sip, topo.cube, topo.pe
    mm, noc, link = sysc.ns_per_mm, sip.io_chiplet.noc, sysc.inter_sip_link
    crossing = 2 * sip.ucie.overhead_ns
    io_ucie_mm = sip.io_chiplet.wire_mm + cube.xbar.ucie_wire_mm
    # sip0: PE port into the crossbar, UCIe out of cube 0 into the IO hub router, NoC to the SerDes, the link
    out = (pe.pe_tcm.access_ns + cube.xbar.overhead_ns) + (crossing + noc.overhead_ns)
    out_mm = cube.xbar.pe_wire_mm + io_ucie_mm
    # sip1: SerDes into the hub router, UCIe into cube 0 (its crossbar), HBM write channel, one slice
    into = noc.overhead_ns + (crossing + cube.xbar.overhead_ns) + cube.hbm_ctrl.access_ns
    in_mm = io_ucie_mm + cube.hbm_ctrl.wire_mm
    bottleneck = min(link.bandwidth_gbs, noc.bandwidth_gbs, sip.ucie.bandwidth_gbs, cube.xbar.bandwidth_gbs)
    data = pe.pe_dma.overhead_ns + out + link.latency_ns + into + (out_mm + in_mm) * mm + n / bottleneck
    # the acknowledgement: sip1's HBM controller port into its crossbar, UCIe out of cube 0 into the hub, the link,
    # then at sip0 SerDes -> hub -> UCIe into cube 0 -> the PE's port
    ack_out = cube.xbar.overhead_ns + (crossing + noc.overhead_ns)
    ack_out_mm = cube.hbm_ctrl.wire_mm + io_ucie_mm
    ack_in = noc.overhead_ns + (crossing + cube.xbar.overhead_ns) + pe.pe_tcm.access_ns
    ack_in_mm = io_ucie_mm + cube.xbar.pe_wire_mm
    ack = ack_out + link.latency_ns + ack_in + (ack_out_mm + ack_in_mm) * mm + HEADER_BYTES / bottleneck
    assert c.latency_ns == pytest.approx(data + ack, abs=1e-9)
    hops = [h.link for h in c.hops]
    assert "sip0->sip1" in hops
    assert "sip1->sip0" in hops
    assert c.wire_ns == pytest.approx(2 * link.latency_ns + (out_mm + in_mm + ack_out_mm + ack_in_mm) * mm)


def test_latency_grows_with_size(topo):
    for src, dst in [
        (PhysAddr.hbm(0, 0, 0), PhysAddr.tcm(0, 0, 0, 0)),
        (PhysAddr.hbm(0, 15, 0), PhysAddr.tcm(0, 0, 0, 0)),
        (PhysAddr.tcm(0, 0, 0, 0), PhysAddr.hbm(1, 0, 0)),
    ]:
        lat = [one(topo, PeDmaMsg(0, 0, 0, src, dst, n)).latency_ns for n in (64, 4096, 65536, 1 << 20)]
        assert lat == sorted(lat), (src, dst, lat)
        assert len(set(lat)) == len(lat), (src, dst, lat)


def test_latency_grows_with_hop_distance(topo):
    """HBM of cubes ever further from cube 0 (Manhattan 0..6), then of SIPs ever further round a ring of 5."""
    by_cube = [
        one(topo, PeDmaMsg(0, 0, 0, PhysAddr.hbm(0, c, 0), PhysAddr.tcm(0, 0, 0, 0), 4096)).latency_ns
        for c in (0, 1, 2, 3, 7, 11, 15)
    ]
    assert by_cube == sorted(by_cube)
    assert len(set(by_cube)) == len(by_cube)
    ring = with_sips(topo, 5)
    by_sip = [
        one(ring, PeDmaMsg(0, 0, 0, PhysAddr.tcm(0, 0, 0, 0), PhysAddr.hbm(s, 0, 0), 4096)).latency_ns
        for s in (0, 1, 2)
    ]
    assert by_sip == sorted(by_sip)
    assert len(set(by_sip)) == 3


def test_the_second_of_two_transfers_on_one_path_waits_one_drain(topo):
    """Two PEs of cube 0 each send 1 MiB to cube 1's HBM: both streams cross the one UCIe link cube0 -> cube1 and
    cube 1's HBM write channel, so the second waits there for the first's whole drain."""
    n = 1 << 20

    def dma(pe, off):
        return PeDmaMsg(0, 0, pe, PhysAddr.tcm(0, 0, pe, 0), PhysAddr.hbm(0, 1, off), n)

    alone = one(topo, dma(0, 0))
    both = []
    run_hosts(
        topo,
        {0: lambda eng, _s: both.extend(eng.wait(h) for h in [eng.submit(dma(0, 0)), eng.submit(dma(1, 1 << 24))])},
    )
    shared_bw = min(topo.sip.ucie.bandwidth_gbs, topo.cube.hbm_ctrl.effective_bw_gbs)  # 204.8: the write channel
    drain = n / shared_bw  # 5120 ns
    assert alone.serialization_ns == pytest.approx(drain, abs=1e-9)
    assert both[0].start_ns == both[1].start_ns == 0.0
    assert both[0].latency_ns == pytest.approx(alone.latency_ns, abs=1e-9)  # the first goes as if alone
    # the second queues 4096 ns on the UCIe link (n / 256) and the rest of the first's drain (1024) at the channel
    assert both[1].queueing_ns == pytest.approx(drain, abs=1e-9)
    assert both[1].latency_ns == pytest.approx(alone.latency_ns + drain, abs=1e-9)


def test_large_transfer_reaches_the_hbm_bottleneck(topo):
    """16 MiB from local HBM into a PE's TCM-sized window: one HBM channel is the bottleneck, 204.8 GB/s."""
    n = 12 << 20
    c = one(topo, PeDmaMsg(0, 0, 0, PhysAddr.hbm(0, 0, 0), PhysAddr.tcm(0, 0, 0, 0), n))
    assert topo.cube.hbm_ctrl.effective_bw_gbs == pytest.approx(204.8)
    assert c.bandwidth_gbs == pytest.approx(204.8, rel=0.01)
    assert c.bandwidth_gbs < 204.8
