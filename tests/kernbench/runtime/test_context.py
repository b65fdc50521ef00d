"""The torch object on the engine: placement, data round trips, VA mappings, devices and cleanup."""

import numpy as np
import pytest

from kernbench.kernels.dtypes import from_bf16_bits, to_bf16_bits
from kernbench.runtime import AllocationError, DPPolicy
from kernbench.topology import UnitKind

from ..kernels.conftest import on_sip

POLICIES = [
    DPPolicy(num_cubes=1, num_pes=1),
    DPPolicy(pe="column_wise", num_cubes=1),
    DPPolicy(pe="row_wise", num_cubes=2),
    DPPolicy(cube="column_wise", pe="row_wise", num_cubes=4, num_pes=2),
    DPPolicy(cube="replicate", pe="replicate", num_cubes=2, num_pes=2),
]


@pytest.mark.parametrize("dp", POLICIES, ids=str)
@pytest.mark.parametrize("dtype", ["f16", "f32", "bf16", "i32"])
def test_copy_in_then_read_back(topo, dp, dtype):
    rng = np.random.default_rng(5)
    values = (rng.standard_normal((64, 256)) * 100).astype(np.float32)  # cube blocks of whole pages
    if dtype == "i32":
        values = values.astype(np.int32)
    expected = (
        from_bf16_bits(to_bf16_bits(values))
        if dtype == "bf16"
        else values.astype({"f16": np.float16, "f32": np.float32, "i32": np.int32}[dtype])
    )

    def body(torch):
        t = torch.zeros((64, 256), dtype, dp=dp)
        before = t.numpy()
        t.copy_(torch.from_numpy(values))
        return {"before": before, "after": t.numpy()}

    got, _ = on_sip(topo, body)
    assert not got["before"].any()
    np.testing.assert_array_equal(got["after"], expected)


def test_va_offsets_resolve_to_the_right_pes_hbm(topo):
    """Column shard p of a tensor lives in PE p's share of its cube's HBM, and its VA maps there in every cube."""
    share = topo.cube.hbm_ctrl.capacity_bytes // topo.pes_per_cube

    def body(torch):
        t = torch.zeros((64, 8 * 1024), "f16", dp=DPPolicy(pe="column_wise", num_cubes=1))  # 128 KiB shards
        sip = torch.engine.sip(0)
        out = []
        for spec, pa in zip(t.shards, t.shard_addrs, strict=True):
            for cube in (0, 9):
                mapped = sip.page_tables[cube].translate(t.va + spec.offset_bytes + 100)
                same = (mapped.unit, mapped.cube, mapped.offset) == (pa.unit, pa.cube, pa.offset + 100)
                out.append([spec.pe, spec.offset_bytes, pa.unit == UnitKind.HBM, pa.cube, pa.offset // share, same])
        return out

    got, _ = on_sip(topo, body)
    for pe, offset, is_hbm, cube, share_index, mapped in got:
        assert (offset, is_hbm, cube, share_index, mapped) == (pe * 64 * 1024 * 2, True, 0, pe, True)


def test_replicas_are_read_in_their_own_cube(topo):
    def body(torch):
        t = torch.zeros((8, 1024), "f32", dp=DPPolicy(cube="replicate", num_cubes=4, num_pes=1))
        sip = torch.engine.sip(0)
        return [sip.page_tables[c].translate(t.va).cube for c in range(16)]

    got, _ = on_sip(topo, body)
    assert got == [0, 1, 2, 3] + [0] * 12


def test_small_shards_share_a_region_and_still_map(topo):
    """8 column shards of 64 bytes: not page-sized, so the cube's blocks share one region; data still round-trips."""
    values = np.arange(4 * 64, dtype=np.float16).reshape(4, 64)

    def body(torch):
        t = torch.empty((4, 64), dp=DPPolicy(pe="column_wise", num_cubes=1))
        t.copy_(values)
        return {"data": t.numpy(), "addrs": [a.offset for a in t.shard_addrs]}

    got, _ = on_sip(topo, body)
    np.testing.assert_array_equal(got["data"], values)
    assert np.diff(got["addrs"]).tolist() == [64] * 7


def test_getitem_and_setitem_inside_one_shard(topo):
    def body(torch):
        t = torch.zeros((8, 64), "f32", dp=DPPolicy(pe="column_wise", num_cubes=1))  # shards of 8 columns
        t[2:4, 8:16] = 7.0
        t[5, 9] = -1.0
        out = {"block": t[2:4, 8:16], "one": t[5, 9], "all": t.numpy()}
        with pytest.raises(IndexError, match="spans multiple shards"):
            t[0, 7:9]
        with pytest.raises(IndexError, match="spans multiple shards"):
            t[0:1, 0:64] = 1.0
        return out

    got, _ = on_sip(topo, body)
    assert (got["block"] == 7).all()
    assert got["one"] == -1.0
    expected = np.zeros((8, 64), np.float32)
    expected[2:4, 8:16] = 7
    expected[5, 9] = -1
    np.testing.assert_array_equal(got["all"], expected)


def test_repr_shows_a_value_summary(topo):
    def body(torch):
        t = torch.zeros((2, 3), "f32", name="w")
        t.copy_(np.array([[1, 2, 3], [4, 5, 6]], np.float32))
        return repr(t), repr(torch.from_numpy(np.ones(2, np.float32)))

    (device, host), _ = on_sip(topo, body)
    assert device == (
        "Tensor('w', shape=(2, 3), dtype=f32, sip0, 1 shards, values=[1, 2, 3, 4, ...], min=1, max=6, mean=3.5)"
    )
    assert host.startswith("Tensor('host', shape=(2,), dtype=f32, host, values=[1, 1]")


def test_cleanup_frees_every_byte_and_mapping(topo):
    def body(torch):
        with torch:
            torch.zeros((64, 1024), dp=DPPolicy(pe="column_wise", num_cubes=2))
            kept = torch.zeros((8, 8), "f32")
            during = torch.allocators.used_bytes
        tables = [len(t) for t in torch.engine.sip(0).page_tables]
        return {"during": during, "after": torch.allocators.used_bytes, "tables": tables, "freed": kept.freed}

    got, _ = on_sip(topo, body)
    assert got["during"] > 0
    assert got["after"] == 0
    assert got["tables"] == [0] * 16
    assert got["freed"]


def test_devices_are_the_workers_sip(topo):
    def body(torch):
        torch.ahbm.set_device(1)
        torch.accelerator.set_device_index(1)
        with pytest.raises(RuntimeError, match=r"set_device\(0\): this host worker runs on sip1"):
            torch.ahbm.set_device(0)
        t = torch.zeros((4, 4))
        return [
            torch.current_device(),
            torch.accelerator.current_device_index(),
            t.device,
            t.shards[0].sip,
            torch.ahbm.device_count(),
        ]

    got, _ = on_sip(topo, body, sip=1)
    assert got == [1, 1, 1, 1, 2]


def test_small_cube_split_tensors_map_each_block_where_it_lives(topo):
    """Cube blocks smaller than a page get sub-page mappings (ADR 0010): each cube's block stays in its own cube,
    every cube translates ``va + offset`` of every block, and freeing leaves no mapping behind."""
    values = np.arange(16 * 64, dtype=np.float16).reshape(16, 64)

    def body(torch):
        with torch:
            t = torch.zeros((16, 64), dp=DPPolicy(cube="column_wise", num_cubes=4, num_pes=1))  # 512-byte blocks
            t.copy_(values)
            sip = torch.engine.sip(0)
            where = [
                [sip.page_tables[c].translate(t.va + s.offset_bytes + 6).cube for s in t.shards] for c in (0, 3, 9)
            ]
            out = {"data": t.numpy(), "cubes": [a.cube for a in t.shard_addrs], "where": where}
        out["tables"] = [len(table) for table in torch.engine.sip(0).page_tables]
        out["used"] = torch.allocators.used_bytes
        return out

    got, _ = on_sip(topo, body)
    np.testing.assert_array_equal(got["data"], values)
    assert got["cubes"] == [0, 1, 2, 3]
    assert got["where"] == [[0, 1, 2, 3]] * 3
    assert got["tables"] == [0] * 16
    assert got["used"] == 0


def test_a_mapping_that_breaks_the_page_size_still_fails(topo):
    """Only an explicit sub-page mapping may be unaligned: a plain one names the page size."""
    from kernbench.engine import MmuMapMsg, TranslationError
    from kernbench.topology import PhysAddr

    va = topo.pe.pe_mmu.va_base

    def body(torch):
        errors = []
        for msg in (MmuMapMsg(0, va + 16, PhysAddr.hbm(0, 0, 0), 64), MmuMapMsg(0, va, PhysAddr.hbm(0, 0, 16), 64)):
            try:
                torch.run_requests([msg], "mmu_map")
            except TranslationError as exc:
                errors.append(str(exc))
        torch.run_requests([MmuMapMsg(0, va + 16, PhysAddr.hbm(0, 0, 48), 64, subpage=True)], "mmu_map")
        translated = str(torch.engine.sip(0).page_tables[0].translate(va + 20))
        try:
            torch.run_requests([MmuMapMsg(0, va + 64, PhysAddr.hbm(0, 1, 0), 64, subpage=True)], "mmu_map")
        except TranslationError as exc:
            errors.append(str(exc))
        return errors, translated

    (errors, translated), _ = on_sip(topo, body)
    assert (
        errors[0] == f"MmuMapMsg.va: {va + 16:#x} is not aligned to the 4096-byte page "
        "(a sub-page mapping says subpage=True)"
    )
    assert errors[1].startswith("MmuMapMsg.pa: ")
    assert "is not aligned to the 4096-byte page" in errors[1]
    assert errors[2] == f"MmuMapMsg.va: {va + 64:#x} is already mapped in sip0"
    assert translated == str(PhysAddr.hbm(0, 0, 52))


def test_clear_errors(topo):
    def body(torch):
        errors = []
        for bad in (
            lambda: torch.zeros((4, 4), "f64"),
            lambda: torch.zeros((8, 6), dp=DPPolicy(pe="column_wise", num_cubes=1)),
            lambda: torch.zeros((16 << 20,), "u8", memory="tcm"),
            lambda: torch.launch("k", lambda _p, _tl: None, torch.from_numpy(np.ones(2, np.float32))),
        ):
            try:
                bad()
            except (ValueError, TypeError, AllocationError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        return errors

    got, _ = on_sip(topo, body)
    assert got[0].startswith("ValueError: unknown dtype 'f64'")
    assert "not divisible" in got[1]
    assert got[2].startswith("AllocationError: sip0 cube0 pe0 TCM: cannot allocate 16777216 bytes")
    assert got[3] == "TypeError: launch 'k': argument 0 is a host tensor; copy it to the device first"
