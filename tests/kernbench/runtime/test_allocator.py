import pytest

from kernbench.engine.ipcq import RING_AREA
from kernbench.runtime.allocator import (
    AllocationError,
    DeviceAllocators,
    PeMemAllocator,
    RangeAllocator,
    VaAllocator,
)
from kernbench.topology import PhysAddr, UnitKind

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# -------------------------------------------------------------------------------------------- RangeAllocator


def test_first_fit_and_alignment():
    a = RangeAllocator(64 * KIB, name="mem", alignment=4 * KIB)
    assert a.alloc(100) == 0
    assert a.alloc(4 * KIB) == 4 * KIB
    assert a.alloc(4 * KIB + 1) == 8 * KIB  # rounded to 8 KiB
    assert a.alloc(1) == 16 * KIB
    assert a.used_bytes == 20 * KIB
    a.free(4 * KIB)
    # The 4 KiB hole at 4 KiB is the first that fits a small request ...
    assert a.alloc(10) == 4 * KIB
    a.free(4 * KIB)
    # ... but not a bigger one: first fit moves on to the next hole that is big enough.
    assert a.alloc(8 * KIB) == 20 * KIB


def test_base_offset_and_unaligned_base():
    a = RangeAllocator(32 * KIB, name="mem", base=0x10000, alignment=4 * KIB)
    assert a.alloc(1) == 0x10000
    b = RangeAllocator(32 * KIB, name="mem", base=100, alignment=4 * KIB)
    assert b.alloc(1) == 4 * KIB  # first aligned address inside [100, ...)
    assert b.largest_hole == 28 * KIB - 4 * KIB  # the [100, 4096) sliver can hold nothing


def test_coalescing_restores_one_hole():
    a = RangeAllocator(16 * KIB, name="mem", alignment=KIB)
    addrs = [a.alloc(KIB) for _ in range(16)]
    assert a.largest_hole == 0
    for addr in addrs[1::2]:  # free every other one: 8 separate 1 KiB holes
        a.free(addr)
    assert a.largest_hole == KIB
    assert len(a.holes) == 8
    with pytest.raises(AllocationError):
        a.alloc(2 * KIB)
    for addr in addrs[0::2]:  # freeing the rest merges with holes below and above
        a.free(addr)
    assert a.holes == [(0, 16 * KIB)]
    assert a.used_bytes == 0
    assert a.live_count == 0
    assert a.alloc(16 * KIB) == 0


def test_coalescing_merges_below_and_above():
    a = RangeAllocator(12 * KIB, name="mem", alignment=KIB)
    lo, mid, hi = a.alloc(4 * KIB), a.alloc(4 * KIB), a.alloc(4 * KIB)
    a.free(lo)
    a.free(hi)
    assert a.holes == [(0, 4 * KIB), (8 * KIB, 12 * KIB)]
    a.free(mid)
    assert a.holes == [(0, 12 * KIB)]


def test_exhaustion_error_names_memory_and_largest_hole():
    a = RangeAllocator(2 * MIB, name="sip0 cube3 HBM", alignment=4 * KIB)
    a.alloc(MIB)
    a.alloc(512 * KIB)
    with pytest.raises(AllocationError) as exc:
        a.alloc(MIB)
    assert str(exc.value) == "sip0 cube3 HBM: cannot allocate 1048576 bytes: 524288 free in the largest hole"
    with pytest.raises(AllocationError, match=r"cannot allocate 524289 bytes \(528384 after 4096-byte alignment\)"):
        a.alloc(512 * KIB + 1)


def test_double_free_and_unknown_free():
    a = RangeAllocator(64 * KIB, name="mem", alignment=4 * KIB)
    addr = a.alloc(8 * KIB)
    with pytest.raises(AllocationError, match=r"mem: free of 0x1000: no live allocation"):
        a.free(addr + 4 * KIB)  # inside an allocation, not its start
    with pytest.raises(AllocationError, match="but 8192 were allocated"):
        a.free(addr, 4 * KIB)
    a.free(addr, 8 * KIB)
    with pytest.raises(AllocationError, match="double free"):
        a.free(addr)
    assert a.holes == [(0, 64 * KIB)]


def test_bad_sizes_are_value_errors():
    a = RangeAllocator(64 * KIB, name="mem")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="allocation size"):
            a.alloc(bad)  # type: ignore[arg-type]


def test_free_all_and_usage():
    a = RangeAllocator(64 * KIB, name="mem", alignment=4 * KIB)
    a.alloc(1)
    a.alloc(5000)
    assert (a.used_bytes, a.free_bytes, a.live_count) == (12 * KIB, 52 * KIB, 2)
    a.free_all()
    assert (a.used_bytes, a.live_count, a.holes) == (0, 0, [(0, 64 * KIB)])


# ------------------------------------------------------------------------------------------------- VaAllocator


def test_va_allocator_pages(topo):
    va = VaAllocator.for_topology(topo, sip=1)
    mmu = topo.pe.pe_mmu
    assert (va.base, va.end, va.page_bytes) == (mmu.va_base, mmu.va_end, 4096)
    first = va.alloc(1)
    second = va.alloc(4097)
    third = va.alloc(4096)
    assert first == mmu.va_base == 0x1_0000_0000
    assert second == first + 4096
    assert third == second + 8192
    assert all(x % 4096 == 0 for x in (first, second, third))
    va.free(second)
    assert va.alloc(8192) == second
    with pytest.raises(AllocationError, match="sip1 VA: cannot allocate"):
        va.alloc(mmu.va_size_bytes)


def test_va_allocator_rejects_unaligned_base():
    with pytest.raises(ValueError, match="page size"):
        VaAllocator(0x1001, 0x10000, 4096)


# ------------------------------------------------------------------------------------- PE / device allocators


def test_pe_hbm_share_and_tcm_user_part(topo):
    pe = PeMemAllocator(topo, sip=1, cube=3, pe=2)
    share = topo.cube.hbm_ctrl.capacity_bytes // topo.pes_per_cube  # 48 GiB / 8 = 6 GiB
    assert share == 6 * GIB
    assert (pe.hbm.base, pe.hbm.size) == (2 * share, share - RING_AREA)  # the top holds the IPCQ rings
    assert (pe.tcm.base, pe.tcm.size) == (0, topo.pe.tcm_user_bytes) == (0, 12 * MIB)
    h = pe.alloc_hbm(100)
    assert h == PhysAddr.hbm(1, 3, 2 * share)
    t = pe.alloc_tcm(100)
    assert t == PhysAddr.tcm(1, 3, 2, 0)
    with pytest.raises(AllocationError, match="sip1 cube3 pe2 HBM: cannot allocate 7516192768 bytes"):
        pe.alloc_hbm(7 * GIB)
    with pytest.raises(AllocationError, match="sip1 cube3 pe2 TCM: cannot allocate"):
        pe.alloc_tcm(12 * MIB)  # 4 KiB already in use; the scheduler's 4 MiB is never handed out
    with pytest.raises(AllocationError, match="not allocated by this PE"):
        pe.free(PhysAddr.tcm(1, 3, 1, 0))
    pe.free(h)
    pe.free(t)
    assert pe.hbm.used_bytes == pe.tcm.used_bytes == 0


def test_device_allocators_structural_keys(topo):
    dev = DeviceAllocators(topo)
    a = dev[(0, 1, 2)]
    assert a is dev[(0, 1, 2)]
    assert a.key == (0, 1, 2)
    assert dev[(1, 1, 2)] is not a
    # Different PEs of one cube get disjoint HBM; the same offset in different cubes is a different PhysAddr.
    p0, p1 = dev[(0, 1, 0)].alloc_hbm(4096), dev[(0, 1, 1)].alloc_hbm(4096)
    assert p0.offset != p1.offset
    assert (p0.sip, p0.cube) == (p1.sip, p1.cube)
    assert dev[(0, 2, 0)].alloc_hbm(4096) == PhysAddr.hbm(0, 2, 0)
    assert (0, 0, 0) in dev
    assert (0, 0, 8) not in dev
    assert (5, 0, 0) not in dev
    assert 3 not in dev


@pytest.mark.parametrize("key", [(2, 0, 0), (0, 16, 0), (0, 0, 8), (0, -1, 0)])
def test_unknown_pe_key_is_clear(topo, key):
    dev = DeviceAllocators(topo)
    with pytest.raises(AllocationError, match=r"no PE allocator for .*sips \[0, 1\], cubes 0\.\.15, pes 0\.\.7"):
        dev[key]


def test_sips_scope_and_bad_keys(topo):
    dev = DeviceAllocators(topo, sips=[1])
    assert dev.sips == (1,)
    with pytest.raises(AllocationError, match=r"owns sips \[1\]"):
        dev[(0, 0, 0)]
    with pytest.raises(AllocationError, match=r"\(sip, cube, pe\) tuple"):
        dev[7]  # type: ignore[index]
    with pytest.raises(AllocationError, match=r"no SRAM allocator for \(0, 0\)"):
        dev.sram((0, 0))
    with pytest.raises(AllocationError, match="no VA allocator for sip 0"):
        dev.va(0)
    with pytest.raises(ValueError, match="out of range"):
        DeviceAllocators(topo, sips=[2])


def test_sram_shared_per_cube(topo):
    dev = DeviceAllocators(topo)
    s = dev.sram((1, 4))
    assert s is dev.sram((1, 4))
    a, b = s.alloc(1000), s.alloc(1000)
    assert a == PhysAddr.sram(1, 4, 0)
    assert b == PhysAddr.sram(1, 4, 4096)
    with pytest.raises(AllocationError, match="sip1 cube4 SRAM: cannot allocate 33554432 bytes"):
        s.alloc(32 * MIB)
    with pytest.raises(AllocationError, match="not allocated here"):
        s.free(PhysAddr.sram(1, 5, 0))


def test_device_free_by_address_and_leak_figures(topo):
    dev = DeviceAllocators(topo)
    addrs = [
        dev[(0, 3, 5)].alloc_hbm(MIB),
        dev[(0, 3, 7)].alloc_hbm(3 * KIB),
        dev[(1, 0, 1)].alloc_tcm(8 * KIB),
        dev.sram((0, 3)).alloc(2 * KIB),
    ]
    va = dev.va(0).alloc(MIB + 1)
    assert dev.usage() == {
        "sip0 cube3 pe5 HBM": MIB,
        "sip0 cube3 pe7 HBM": 4 * KIB,
        "sip1 cube0 pe1 TCM": 8 * KIB,
        "sip0 cube3 SRAM": 4 * KIB,
        "sip0 VA": MIB + 4 * KIB,
    }
    assert dev.usage_by_kind() == {"HBM": MIB + 4 * KIB, "TCM": 8 * KIB, "SRAM": 4 * KIB, "VA": MIB + 4 * KIB}
    for addr in addrs:  # the owner is found from the address alone
        dev.free(addr)
    dev.va(0).free(va)
    assert dev.usage() == {}
    assert dev.used_bytes == 0
    with pytest.raises(AllocationError, match="double free"):
        dev.free(addrs[0])
    with pytest.raises(AllocationError, match="M_CPU memory is not managed"):
        dev.free(PhysAddr(sip=0, cube=0, unit=UnitKind.M_CPU, offset=0))
    dev[(0, 0, 0)].alloc_tcm(1)
    dev.free_all()
    assert dev.used_bytes == 0
