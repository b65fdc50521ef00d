"""Physical address encode/decode, range checks and HBM slice interleaving."""

import random

import pytest

from kernbench.topology import MAX_CUBES, MAX_OFFSET, MAX_PES, MAX_SIPS, PhysAddr, UnitKind, hbm_slice, hbm_slice_offset


def test_documented_layout():
    """sip in bits 62..49, cube in 48..44, unit byte in 43..36, offset in 35..0 (the module docstring)."""
    addr = PhysAddr.tcm(sip=1, cube=3, pe=5, offset=0x1000)
    assert addr.encode() == (1 << 49) | (3 << 44) | (0x85 << 36) | 0x1000
    assert str(addr) == "sip1.cube3.pe5.tcm+0x1000"
    assert PhysAddr.hbm(0, 2, 0x40).encode() == (2 << 44) | 0x40
    assert PhysAddr.sram(2, 0, 0).encode() == (2 << 49) | (0x10 << 36)
    assert PhysAddr.io(1, 0x10).encode() == (1 << 49) | (0x30 << 36) | 0x10


def test_16384_sips_and_a_48_gib_hbm_are_addressable():
    assert (MAX_SIPS, MAX_CUBES, MAX_OFFSET + 1) == (16384, 32, 64 << 30)
    last = PhysAddr.hbm(sip=16383, cube=31, offset=(48 << 30) - 1)
    raw = last.encode()
    assert raw < 2**63
    assert PhysAddr.decode(raw) == last
    tcm = PhysAddr.tcm(sip=16383, cube=15, pe=7, offset=0x123)
    assert PhysAddr.decode(tcm.encode()) == tcm
    with pytest.raises(ValueError, match=r"PhysAddr\.sip: expected 0\.\.16383, got 16384"):
        PhysAddr.hbm(sip=16384, cube=0, offset=0)


def _random_addr(rng: random.Random) -> PhysAddr:
    unit = rng.choice(list(UnitKind))
    return PhysAddr(
        sip=rng.randrange(MAX_SIPS),
        cube=0 if unit is UnitKind.IO else rng.randrange(MAX_CUBES),
        unit=unit,
        pe=rng.randrange(MAX_PES) if unit.per_pe else 0,
        offset=rng.choice([0, MAX_OFFSET, rng.randrange(MAX_OFFSET + 1)]),
    )


def test_round_trip_many_random_values():
    rng = random.Random(1234)
    addrs, raws = set(), set()
    for _ in range(20_000):
        addr = _random_addr(rng)
        raw = addr.encode()
        assert 0 <= raw < 2**63
        assert PhysAddr.decode(raw) == addr
        assert PhysAddr.decode(raw).encode() == raw
        addrs.add(addr)
        raws.add(raw)
    assert len(raws) == len(addrs) > 10_000  # encoding is injective: distinct fields, distinct integers


def test_round_trip_extremes():
    for addr in (
        PhysAddr.hbm(0, 0, 0),
        PhysAddr.tcm(MAX_SIPS - 1, MAX_CUBES - 1, MAX_PES - 1, MAX_OFFSET),
        PhysAddr.m_cpu(MAX_SIPS - 1, MAX_CUBES - 1, MAX_OFFSET),
    ):
        assert PhysAddr.decode(addr.encode()) == addr
    assert PhysAddr.tcm(MAX_SIPS - 1, MAX_CUBES - 1, MAX_PES - 1, MAX_OFFSET).encode() == 2**63 - 1 - 0x70 * 2**36


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sip": MAX_SIPS}, "sip"),
        ({"sip": -1}, "sip"),
        ({"cube": MAX_CUBES}, "cube"),
        ({"offset": MAX_OFFSET + 1}, "offset"),
        ({"offset": -5}, "offset"),
        ({"unit": UnitKind.PE_TCM, "pe": MAX_PES}, "pe"),
        ({"unit": UnitKind.HBM, "pe": 1}, "pe"),
        ({"unit": UnitKind.IO, "cube": 1}, "cube"),
        ({"unit": 7}, "unit"),
        ({"sip": 1.0}, "sip"),
        ({"cube": True}, "cube"),
    ],
)
def test_field_range_errors_name_the_field(kwargs, field):
    args = {"sip": 0, "cube": 0, "unit": UnitKind.HBM, "pe": 0, "offset": 0} | kwargs
    with pytest.raises(ValueError, match=rf"^PhysAddr\.{field}: "):
        PhysAddr(**args)


def test_int_unit_is_coerced():
    assert PhysAddr(sip=0, cube=0, unit=8, pe=2, offset=0).unit is UnitKind.PE_TCM


def test_decode_rejects_bad_addresses():
    with pytest.raises(ValueError, match="bit 63 is reserved"):
        PhysAddr.decode(2**63)
    with pytest.raises(ValueError, match="bit 63 is reserved"):
        PhysAddr.decode(-1)
    with pytest.raises(ValueError, match=r"PhysAddr\.unit: unknown unit byte 0x50"):
        PhysAddr.decode(0x50 << 36)
    with pytest.raises(ValueError, match=r"PhysAddr\.pe: must be 0 for unit SRAM"):
        PhysAddr.decode(0x13 << 36)
    with pytest.raises(ValueError, match=r"PhysAddr\.cube: must be 0 for unit IO"):
        PhysAddr.decode((1 << 44) | (0x30 << 36))
    with pytest.raises(ValueError, match="expected an int address"):
        PhysAddr.decode("0x10")


def test_hbm_slices_interleave_round_robin():
    n, block = 8, 4096
    assert [hbm_slice(i * block, n, block) for i in range(10)] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    assert hbm_slice(block - 1, n, block) == 0
    assert hbm_slice(block, n, block) == 1
    assert hbm_slice_offset(9 * block + 7, n, block) == block + 7


def test_hbm_slice_mapping_is_a_bijection():
    n, block = 4, 256
    total = n * block * 6
    places = {(hbm_slice(o, n, block), hbm_slice_offset(o, n, block)) for o in range(0, total, 16)}
    assert len(places) == total // 16
    assert all(0 <= off < total // n for _, off in places)
    per_slice = [sum(1 for s, _ in places if s == k) for k in range(n)]
    assert per_slice == [total // 16 // n] * n


@pytest.mark.parametrize(
    ("args", "name"), [((-1, 8, 64), "offset"), ((0, 0, 64), "n_slices"), ((0, 8, 0), "interleave_bytes")]
)
def test_hbm_slice_argument_errors(args, name):
    with pytest.raises(ValueError, match=name):
        hbm_slice(*args)
