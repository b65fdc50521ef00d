"""The default topology.yaml loads and carries the documented values (docs/reference/topology.md)."""

import re

import pytest

from kernbench.topology import PhysAddr, UnitKind, check_addr, sip_links, unit_capacity

from .conftest import DEFAULT_TOPOLOGY


def test_system_defaults(topo):
    assert topo.source == str(DEFAULT_TOPOLOGY)
    assert topo.system.sip_count == 2
    assert topo.system.topology == "ring_1d"
    assert topo.system.ns_per_mm == 0.01
    assert topo.system.switch.overhead_ns == 5.0
    assert topo.system.inter_sip_link.latency_ns > 0
    assert len(sip_links(topo.system)) == 2


def test_sip_and_cube_defaults(topo):
    assert (topo.sip.cube_mesh.w, topo.sip.cube_mesh.h) == (4, 4)
    assert topo.sip.ucie.overhead_ns == 8.0
    assert topo.sip.ucie.crossing_ns == 16.0
    assert topo.cube.xbar.overhead_ns == 2.0
    assert topo.cube.pe_layout.corners == ("NW", "NE", "SW", "SE")
    assert topo.pes_per_cube == 8
    assert topo.cubes_per_sip == 16
    assert topo.total_pes == 2 * 16 * 8
    assert topo.cube.sram.size_bytes == 32 * 2**20


def test_hbm_defaults(topo):
    hbm = topo.cube.hbm_ctrl
    assert hbm.capacity_bytes == 48 * 2**30
    assert hbm.slices == 8
    assert hbm.xbar_to_hbm_bw_gbs == 256.0
    assert hbm.efficiency == 0.8
    assert hbm.effective_bw_gbs == pytest.approx(204.8)
    assert hbm.cube_effective_bw_gbs == pytest.approx(8 * 204.8)
    assert hbm.slice_bytes * hbm.slices == hbm.capacity_bytes


def test_pe_defaults(topo):
    pe = topo.pe
    assert pe.pe_tcm.size_bytes == 16 * 2**20
    assert pe.scheduler.tcm_reserved_mib == 4
    assert pe.tcm_user_bytes == 12 * 2**20
    assert pe.pe_mmu.va_base == 0x1_0000_0000
    assert pe.pe_mmu.va_size_bytes == 64 * 2**30
    assert pe.pe_mmu.page_bytes == 4096
    assert pe.pe_gemm.flops_per_ns > 0
    assert pe.pe_math.flops_per_ns > 0


def test_every_number_in_the_file_has_a_comment():
    numbered = 0
    for lineno, line in enumerate(DEFAULT_TOPOLOGY.read_text().splitlines(), 1):
        body = line.split("#", 1)[0]
        if re.search(r":\s*(\[.*\]|[-+]?\d[\w.+-]*)\s*$", body) and re.search(r"\d", body.split(":", 1)[1]):
            numbered += 1
            assert "#" in line, f"topology.yaml line {lineno} has a number without a comment: {line!r}"
    assert numbered >= 40  # the check saw the file's numeric lines


def test_last_byte_of_each_unit_is_addressable(topo):
    for unit in UnitKind:
        cube = 0 if unit is UnitKind.IO else topo.cubes_per_sip - 1
        pe = topo.pes_per_cube - 1 if unit.per_pe else 0
        last = PhysAddr(sip=topo.sip_count - 1, cube=cube, unit=unit, pe=pe, offset=unit_capacity(topo, unit) - 1)
        check_addr(last, topo)
        with pytest.raises(ValueError, match=r"PhysAddr\.offset"):
            check_addr(last, topo, nbytes=2)
