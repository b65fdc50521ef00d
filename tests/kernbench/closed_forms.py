"""Latencies written out from a topology's fields, shared by the tests that check the simulator against them."""

from kernbench.cli.probe_cases import SUMMARY_BYTES
from kernbench.engine import HEADER_BYTES
from kernbench.topology import Topology


def probe_case_parts(topo: Topology, n: int = SUMMARY_BYTES) -> dict[str, tuple[float, float, float, float]]:
    """(command, overhead, wire, drain) ns of each case's ``n``-byte transfer (n >= 4 KiB: the PE cases use every
    HBM slice at once or one whole slice, at the channel's bandwidth either way), written out from the topology."""
    sysc, sip, cube, pe = topo.system, topo.sip, topo.cube, topo.pe
    mm, noc, link = sysc.ns_per_mm, sip.io_chiplet.noc, sysc.inter_sip_link
    # host <-> IO chiplet: host, PCIe segment, switch, PCIe segment, PCIe endpoint, hub router (PCIe latency counts
    # as a per-hop cost); IO chiplet <-> cube 0 (on the west edge by the hub): UCIe out and in, cube 0's crossbar
    pcie = (
        sysc.host.overhead_ns
        + sysc.switch.overhead_ns
        + 2 * sysc.host.pcie.latency_ns
        + sip.io_chiplet.pcie_ep.overhead_ns
        + noc.overhead_ns
    )
    pcie_bw = min(sysc.host.pcie.bandwidth_gbs, sysc.switch.bandwidth_gbs, noc.bandwidth_gbs)
    io_to_cube0 = 2 * sip.ucie.overhead_ns + cube.xbar.overhead_ns
    io_to_hbm_mm = sip.io_chiplet.wire_mm + cube.xbar.ucie_wire_mm + cube.hbm_ctrl.wire_mm
    hbm_bw = cube.hbm_ctrl.effective_bw_gbs
    pe_bw = min(pe.pe_dma.bandwidth_gbs, cube.xbar.bandwidth_gbs, pe.pe_tcm.bandwidth_gbs)
    pe_out = pe.pe_tcm.access_ns + cube.xbar.overhead_ns  # the source TCM's port into the crossbar
    hops = (topo.sip.cube_mesh.w - 1) + (topo.sip.cube_mesh.h - 1)  # XY route from cube 0 to the far corner
    hop_mm = 2 * cube.xbar.ucie_wire_mm + sip.cube_mesh.pitch_mm
    cross_bw = min(link.bandwidth_gbs, noc.bandwidth_gbs, sip.ucie.bandwidth_gbs, cube.xbar.bandwidth_gbs)
    io_ucie_mm = sip.io_chiplet.wire_mm + cube.xbar.ucie_wire_mm
    return {
        # a header to the IO_CPU, then the data into cube 0's HBM
        "h2d-write": (
            sip.io_chiplet.io_cpu.overhead_ns,
            2 * pcie + io_to_cube0 + cube.hbm_ctrl.access_ns,
            io_to_hbm_mm * mm,
            (HEADER_BYTES + n) / pcie_bw,
        ),
        # a header to the IO_CPU, a read request on to cube 0's HBM (over the NoC), the data back to the host
        "d2h-read": (
            sip.io_chiplet.io_cpu.overhead_ns,
            pcie + (io_to_cube0 + noc.overhead_ns) + cube.hbm_ctrl.access_ns + io_to_cube0 + pcie,
            2 * io_to_hbm_mm * mm,
            HEADER_BYTES / pcie_bw
            + HEADER_BYTES / min(noc.bandwidth_gbs, sip.ucie.bandwidth_gbs, cube.xbar.bandwidth_gbs, hbm_bw)
            + n / pcie_bw,
        ),
        "pe-local-hbm": (
            pe.pe_dma.overhead_ns,
            pe_out + cube.hbm_ctrl.access_ns,
            (cube.xbar.pe_wire_mm + cube.hbm_ctrl.wire_mm) * mm,
            n / min(pe_bw, hbm_bw),
        ),
        "pe-remote-cube-hbm": (
            pe.pe_dma.overhead_ns,
            pe_out + hops * io_to_cube0 + cube.hbm_ctrl.access_ns,
            (cube.xbar.pe_wire_mm + hops * hop_mm + cube.hbm_ctrl.wire_mm) * mm,
            n / min(pe_bw, sip.ucie.bandwidth_gbs, hbm_bw),
        ),
        "pe-tcm": (pe.pe_dma.overhead_ns, pe_out + pe.pe_tcm.access_ns, 2 * cube.xbar.pe_wire_mm * mm, n / pe_bw),
        # the data out of sip0 and into sip1's HBM, then the acknowledgement back (as test_timing writes it out):
        # four UCIe crossings each with its hub router (out of / into cube 0 of each SIP, there and back), three
        # crossbar entries (into sip1's cube 0, the acknowledgement out of it, back into sip0's)
        "cross-sip-pe-dma": (
            pe.pe_dma.overhead_ns,
            pe_out
            + 4 * (2 * sip.ucie.overhead_ns + noc.overhead_ns)
            + 3 * cube.xbar.overhead_ns
            + cube.hbm_ctrl.access_ns
            + pe.pe_tcm.access_ns,
            2 * link.latency_ns + 2 * (cube.xbar.pe_wire_mm + 2 * io_ucie_mm + cube.hbm_ctrl.wire_mm) * mm,
            (n + HEADER_BYTES) / cross_bw,
        ),
    }


def cross_sip_dma_fixed_ns(topo: Topology) -> float:
    """What a cross-SIP PE DMA (and its acknowledgement) costs beyond the two link latencies and the drain: the
    command, the per-hop overheads and the on-chip wires (146.46 ns on the default topology)."""
    command, overhead, wire, _ = probe_case_parts(topo, HEADER_BYTES)["cross-sip-pe-dma"]
    return command + overhead + wire - 2 * topo.system.inter_sip_link.latency_ns


def ipcq_hop_ns(topo: Topology, nbytes: int, cube: int = 0, links: int = 1) -> float:
    """One IPCQ write of ``nbytes`` from a PE's TCM in ``cube`` of one SIP to the receive ring (in TCM) of the
    same PE of the SIP ``links`` inter-SIP links away, until it lands (54.24 ns + 500 ns + nbytes / 100 GB/s
    from cube 0 to the next SIP on the default topology). Written out hop by hop: the DMA command; the PE's port
    into the crossbar; the UCIe crossings along the cube's row (IO chiplet on a W or E edge; its column on N or
    S) to the edge cube, into the IO chiplet's router there and along the NoC to the hub router, where the
    SerDes hangs; the links, each SIP between forwarding the stream SerDes to SerDes through its hub router; and
    the same way back in. The stream is cut-through, so the bytes pay the slowest stage once."""
    sysc, sip, xbar, pe = topo.system, topo.sip, topo.cube.xbar, topo.pe
    mm, mesh, noc, io = sysc.ns_per_mm, sip.cube_mesh, sip.io_chiplet.noc, sip.io_chiplet
    y, x = divmod(cube, mesh.w)
    mesh_hops, noc_hops = {"W": (x, y), "E": (mesh.w - 1 - x, y), "N": (y, x), "S": (mesh.h - 1 - y, x)}[io.attach_edge]
    pe_port = pe.pe_tcm.access_ns + xbar.pe_wire_mm * mm  # TCM <-> crossbar, either way
    mesh_hop = sip.ucie.crossing_ns + xbar.overhead_ns + (2 * xbar.ucie_wire_mm + mesh.pitch_mm) * mm
    io_ucie = sip.ucie.crossing_ns + (io.wire_mm + xbar.ucie_wire_mm) * mm  # edge cube <-> its IO router
    noc_hop = noc.overhead_ns + mesh.pitch_mm * mm
    # each side: the crossbar's arbitration (entering it from the PE, or from the IO chiplet), the IO router's
    # (entering it from the edge cube, or from the SerDes)
    side = pe_port + xbar.overhead_ns + mesh_hops * mesh_hop + io_ucie + noc.overhead_ns + noc_hops * noc_hop
    wires = links * sysc.inter_sip_link.latency_ns + (links - 1) * noc.overhead_ns
    bandwidth = min(
        pe.pe_dma.bandwidth_gbs,
        pe.pe_tcm.bandwidth_gbs,
        xbar.bandwidth_gbs,
        sip.ucie.bandwidth_gbs,
        noc.bandwidth_gbs,
        sysc.inter_sip_link.bandwidth_gbs,
    )
    return pe.pe_dma.overhead_ns + 2 * side + wires + nbytes / bandwidth
