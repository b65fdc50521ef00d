import dataclasses
import itertools

import numpy as np
import pytest

from kernbench.runtime.placement import (
    Block,
    DPPolicy,
    ShardSpec,
    as_2d,
    assemble_blocks,
    assemble_for_policy,
    column_wise,
    place_local,
    replicate,
    resolve_dp_layout,
    resolve_dp_policy,
    row_wise,
    split_blocks,
    split_for_policy,
    tiled_column_major,
    tiled_row_major,
)

AXES = ("replicate", "column_wise", "row_wise")

# ------------------------------------------------------------------------------------ DPPolicy / ShardSpec (ADR-0026)


def test_dppolicy_rejects_sip_kwarg():
    with pytest.raises(TypeError, match="unexpected keyword argument 'sip'"):
        DPPolicy(sip="column_wise", cube="replicate", pe="replicate")  # type: ignore[call-arg]


def test_dppolicy_rejects_num_sips_kwarg():
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_sips'"):
        DPPolicy(cube="replicate", pe="replicate", num_sips=2)  # type: ignore[call-arg]


def test_dppolicy_intra_device_fields_only():
    dp = DPPolicy(cube="column_wise", pe="row_wise", num_cubes=2, num_pes=4)
    assert (dp.cube, dp.pe, dp.num_cubes, dp.num_pes) == ("column_wise", "row_wise", 2, 4)
    assert not hasattr(dp, "sip")
    assert not hasattr(dp, "num_sips")
    assert DPPolicy() == DPPolicy(cube="replicate", pe="replicate", num_cubes=None, num_pes=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dp.cube = "replicate"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cube": "tiled"}, "DPPolicy.cube"),
        ({"pe": "columnwise"}, "DPPolicy.pe"),
        ({"num_cubes": 0}, "DPPolicy.num_cubes"),
        ({"num_pes": -1}, "DPPolicy.num_pes"),
        ({"num_pes": 2.0}, "DPPolicy.num_pes"),
        ({"num_cubes": True}, "DPPolicy.num_cubes"),
    ],
)
def test_dppolicy_validates_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        DPPolicy(**kwargs)


def test_shardspec_structural_coords_no_pe_index():
    s = ShardSpec(sip=1, cube=2, pe=3, offset_bytes=128, nbytes=64)
    assert (s.sip, s.cube, s.pe, s.offset_bytes, s.nbytes) == (1, 2, 3, 128, 64)
    assert [f.name for f in dataclasses.fields(ShardSpec)] == ["sip", "cube", "pe", "offset_bytes", "nbytes"]
    with pytest.raises(AttributeError, match="has no attribute 'pe_index'"):
        _ = s.pe_index  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="unexpected keyword argument 'pe_index'"):
        ShardSpec(pe_index=0, offset_bytes=0, nbytes=8)  # type: ignore[call-arg]


def test_resolve_stamps_target_sip_and_local_coords():
    shards = resolve_dp_policy(
        DPPolicy(cube="column_wise", pe="column_wise"), shape=(4, 32), itemsize=2, num_pe=4, num_cubes=2, target_sip=1
    )
    assert len(shards) == 8
    assert all(s.sip == 1 for s in shards)
    assert [(s.cube, s.pe) for s in shards] == [(c, p) for c in range(2) for p in range(4)]


@pytest.mark.parametrize("cube", AXES)
@pytest.mark.parametrize("pe", AXES)
def test_target_sip_0_and_1_differ_only_in_sip(cube, pe):
    kw = {"shape": (8, 32), "itemsize": 2, "num_pe": 4, "num_cubes": 2}
    s0 = resolve_dp_policy(DPPolicy(cube=cube, pe=pe), target_sip=0, **kw)
    s1 = resolve_dp_policy(DPPolicy(cube=cube, pe=pe), target_sip=1, **kw)
    assert {s.sip for s in s0} == {0}
    assert {s.sip for s in s1} == {1}
    assert [dataclasses.replace(s, sip=1) for s in s0] == s1


def test_policy_counts_override_device_counts():
    dp = DPPolicy(cube="column_wise", pe="column_wise", num_cubes=2, num_pes=1)
    shards = resolve_dp_policy(dp, shape=(4, 32), itemsize=2, num_pe=8, num_cubes=16, target_sip=0)
    assert [(s.cube, s.pe, s.nbytes) for s in shards] == [(0, 0, 4 * 16 * 2), (1, 0, 4 * 16 * 2)]
    # Passing the already-effective counts gives the same shards.
    assert resolve_dp_policy(dp, shape=(4, 32), itemsize=2, num_pe=1, num_cubes=2, target_sip=0) == shards
    with pytest.raises(ValueError, match=r"DPPolicy\.num_pes = 16 exceeds the 8 PEs per cube"):
        resolve_dp_policy(DPPolicy(num_pes=16), shape=(4, 32), itemsize=2, num_pe=8, target_sip=0)


def test_resolve_requires_target_sip_and_refuses_num_sips():
    dp = DPPolicy()
    with pytest.raises(TypeError, match="target_sip"):
        resolve_dp_policy(dp, shape=(4, 8), itemsize=2, num_pe=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="num_sips"):
        resolve_dp_policy(dp, shape=(4, 8), itemsize=2, num_pe=1, num_sips=2, target_sip=0)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="target_sip"):
        resolve_dp_policy(dp, shape=(4, 8), itemsize=2, num_pe=1, target_sip=-1)


# ------------------------------------------------------------------------------------------- PE-level resolvers


def test_column_wise_offsets_and_sizes():
    shards = column_wise(shape=(1024, 512), itemsize=2, num_pe=8)
    chunk = 1024 * 64 * 2  # 128 KiB
    assert [s.local_pe for s in shards] == list(range(8))
    assert [s.offset_bytes for s in shards] == [i * chunk for i in range(8)]
    assert all(s.nbytes == chunk for s in shards)
    assert shards[3].block == Block(0, 1024, 192, 256)


def test_row_wise_offsets_and_sizes():
    shards = row_wise(shape=(1024, 512), itemsize=2, num_pe=8)
    chunk = 128 * 512 * 2
    assert [s.offset_bytes for s in shards] == [i * chunk for i in range(8)]
    assert all(s.nbytes == chunk for s in shards)
    assert sum(s.nbytes for s in shards) == 1024 * 512 * 2
    assert shards[7].block == Block(896, 1024, 0, 512)


def test_replicate_offsets_and_sizes():
    shards = replicate(shape=(1024, 512), itemsize=2, num_pe=8)
    assert [s.local_pe for s in shards] == list(range(8))
    assert all(s.offset_bytes == 0 and s.nbytes == 1024 * 512 * 2 for s in shards)
    assert all(s.block == Block(0, 1024, 0, 512) for s in shards)


def test_tiled_column_major_walks_k_first():
    # 1024 x 512 in 256 x 128 tiles: a 4 x 4 grid, 16 tiles, dealt to 8 PEs.
    shards = tiled_column_major(shape=(1024, 512), itemsize=2, num_pe=8, tile_m=256, tile_k=128)
    tile_bytes = 256 * 128 * 2
    assert len(shards) == 16
    assert [s.local_pe for s in shards] == [i % 8 for i in range(16)]
    assert shards[1].block == Block(0, 256, 128, 256)  # (m=0, k=1)
    assert shards[4].block == Block(256, 512, 0, 128)  # (m=1, k=0)
    # Row-major tile grid layout; in K-first order that is simply i * tile_bytes.
    assert [s.offset_bytes for s in shards] == [i * tile_bytes for i in range(16)]
    assert sum(s.nbytes for s in shards) == 1024 * 512 * 2


def test_tiled_row_major_walks_m_first():
    shards = tiled_row_major(shape=(1024, 512), itemsize=2, num_pe=8, tile_m=256, tile_k=128)
    tile_bytes = 256 * 128 * 2
    assert [s.local_pe for s in shards] == [i % 8 for i in range(16)]
    assert shards[1].block == Block(256, 512, 0, 128)  # (m=1, k=0)
    assert shards[4].block == Block(0, 256, 128, 256)  # (m=0, k=1)
    # Tile (mi, ki) sits at (mi * tiles_k + ki) * tile_bytes whatever the dealing order.
    assert shards[1].offset_bytes == 4 * tile_bytes
    assert shards[4].offset_bytes == 1 * tile_bytes
    assert sorted(s.offset_bytes for s in shards) == [i * tile_bytes for i in range(16)]


# ----------------------------------------------------------------------------------------- 2-level resolution


def test_cube_column_pe_column_nests_offsets():
    M, K, isz = 4, 32, 2
    layout = resolve_dp_layout(
        DPPolicy(cube="column_wise", pe="column_wise"), shape=(M, K), itemsize=isz, num_pe=4, num_cubes=2, target_sip=0
    )
    cube_bytes, pe_bytes = M * 16 * isz, M * 4 * isz
    for sb in layout:
        c, p = sb.spec.cube, sb.spec.pe
        assert sb.spec.offset_bytes == c * cube_bytes + p * pe_bytes
        assert sb.spec.nbytes == pe_bytes
        assert sb.block == Block(0, M, c * 16 + p * 4, c * 16 + (p + 1) * 4)


def test_cube_replicate_pe_column_repeats_per_cube():
    shards = resolve_dp_policy(
        DPPolicy(cube="replicate", pe="column_wise"), shape=(4, 32), itemsize=2, num_pe=4, num_cubes=3, target_sip=0
    )
    assert len(shards) == 12
    per_cube = [[(s.pe, s.offset_bytes, s.nbytes) for s in shards if s.cube == c] for c in range(3)]
    assert per_cube[0] == per_cube[1] == per_cube[2] == [(p, p * 64, 64) for p in range(4)]


def test_cube_row_pe_replicate():
    layout = resolve_dp_layout(
        DPPolicy(cube="row_wise", pe="replicate"), shape=(8, 6), itemsize=4, num_pe=2, num_cubes=4, target_sip=0
    )
    assert [(sb.spec.cube, sb.spec.pe, sb.spec.offset_bytes) for sb in layout] == [
        (c, p, c * 2 * 6 * 4) for c in range(4) for p in range(2)
    ]
    assert all(sb.spec.nbytes == 2 * 6 * 4 for sb in layout)
    assert layout[5].block == Block(4, 6, 0, 6)


@pytest.mark.parametrize("cube", AXES)
@pytest.mark.parametrize("pe", AXES)
def test_distinct_blocks_tile_the_tensor_bytes(cube, pe):
    """Every distinct block appears once in the byte layout: offsets of distinct blocks never overlap."""
    layout = resolve_dp_layout(
        DPPolicy(cube=cube, pe=pe), shape=(8, 16), itemsize=2, num_pe=2, num_cubes=2, target_sip=0
    )
    distinct = {sb.block: (sb.spec.offset_bytes, sb.spec.nbytes) for sb in layout}
    ranges = sorted(distinct.values())
    assert all(a_off + a_n <= b_off for (a_off, a_n), (b_off, _) in itertools.pairwise(ranges))
    assert sum(n for _, n in ranges) == 8 * 16 * 2
    for sb in layout:
        assert sb.spec.nbytes == sb.block.shape[0] * sb.block.shape[1] * 2


# ---------------------------------------------------------------------------------------------- uneven splits


@pytest.mark.parametrize(
    ("policy", "shape", "num_pe", "num_cubes", "match"),
    [
        (DPPolicy(pe="column_wise"), (4, 30), 4, 1, r"dimension 1 \(K, columns\) = 30 is not divisible by num_pe = 4"),
        (DPPolicy(pe="row_wise"), (6, 8), 4, 1, r"dimension 0 \(M, rows\) = 6 is not divisible by num_pe = 4"),
        (DPPolicy(cube="column_wise"), (4, 6), 1, 4, r"cube-level column_wise: dimension 1 .* num_cubes = 4"),
        (DPPolicy(cube="row_wise"), (3, 8), 1, 2, r"cube-level row_wise: dimension 0 \(M, rows\) = 3"),
        (DPPolicy(cube="column_wise", pe="column_wise"), (4, 24), 8, 2, r"cube 0's block of shape \(4, 12\)"),
    ],
)
def test_uneven_split_raises(policy, shape, num_pe, num_cubes, match):
    with pytest.raises(ValueError, match=match):
        resolve_dp_policy(policy, shape=shape, itemsize=2, num_pe=num_pe, num_cubes=num_cubes, target_sip=0)


def test_uneven_tiles_raise():
    with pytest.raises(ValueError, match=r"tiled_row_major: dimension 0 \(M, rows\) = 100 .* tile_m = 64"):
        tiled_row_major(shape=(100, 128), itemsize=2, num_pe=4, tile_m=64, tile_k=64)
    with pytest.raises(ValueError, match=r"tiled_column_major: dimension 1 \(K, columns\) = 130"):
        tiled_column_major(shape=(128, 130), itemsize=2, num_pe=4, tile_m=64, tile_k=64)


def test_bad_counts_and_shapes():
    with pytest.raises(ValueError, match="num_pe"):
        column_wise(shape=(4, 8), itemsize=2, num_pe=0)
    with pytest.raises(ValueError, match="2D"):
        resolve_dp_policy(DPPolicy(), shape=(4, 8, 2), itemsize=2, num_pe=1, target_sip=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DPPolicy"):
        resolve_dp_policy("replicate", shape=(4, 8), itemsize=2, num_pe=1, target_sip=0)  # type: ignore[arg-type]


def test_as_2d():
    assert as_2d(()) == (1, 1)
    assert as_2d((7,)) == (1, 7)
    assert as_2d((3, 5)) == (3, 5)
    assert as_2d((2, 3, 5)) == (6, 5)


# ------------------------------------------------------------------------------------- split / assemble (numpy)


@pytest.mark.parametrize("cube", AXES)
@pytest.mark.parametrize("pe", AXES)
def test_split_assemble_round_trip(cube, pe):
    rng = np.random.default_rng(7)
    arr = rng.standard_normal((8, 24)).astype(np.float32)
    policy = DPPolicy(cube=cube, pe=pe)
    pairs = split_for_policy(arr, policy, num_pe=2, num_cubes=2, target_sip=1)
    assert all(spec.sip == 1 for spec, _ in pairs)
    for spec, part in pairs:
        assert part.flags.c_contiguous
        assert part.nbytes == spec.nbytes
    back = assemble_for_policy([p for _, p in pairs], policy, shape=(8, 24), num_pe=2, num_cubes=2)
    assert back.dtype == np.float32
    assert np.array_equal(back, arr)


def test_split_blocks_are_the_logical_blocks():
    arr = np.arange(4 * 8).reshape(4, 8)
    col = dict(split_for_policy(arr, DPPolicy(pe="column_wise"), num_pe=2))
    assert [p.tolist() for p in col.values()] == [arr[:, :4].tolist(), arr[:, 4:].tolist()]
    row = [p for _, p in split_for_policy(arr, DPPolicy(pe="row_wise"), num_pe=4)]
    assert row[2].tolist() == [arr[2].tolist()]
    rep = [p for _, p in split_for_policy(arr, DPPolicy(cube="replicate", pe="replicate"), num_pe=2, num_cubes=2)]
    assert len(rep) == 4
    assert all(np.array_equal(p, arr) for p in rep)


def test_split_returns_copies():
    arr = np.zeros((2, 4), dtype=np.int32)
    (_, part), _ = split_for_policy(arr, DPPolicy(pe="column_wise"), num_pe=2)
    part[:] = 9
    assert not arr.any()


def test_assemble_replicate_takes_first_copy():
    arr = np.arange(6, dtype=np.int16).reshape(2, 3)
    policy = DPPolicy(pe="replicate")
    parts = [arr, arr + 100, arr + 200]
    assert np.array_equal(assemble_for_policy(parts, policy, shape=(2, 3), num_pe=3), arr)


@pytest.mark.parametrize("tiler", [tiled_column_major, tiled_row_major])
def test_tiled_split_assemble_round_trip(tiler):
    rng = np.random.default_rng(3)
    arr = rng.integers(-100, 100, size=(12, 16)).astype(np.int32)
    local = tiler(shape=(12, 16), itemsize=4, num_pe=3, tile_m=4, tile_k=8)
    layout = place_local(local, sip=0, cube=5)
    parts = split_blocks(arr, layout)
    for sb, part in zip(layout, parts, strict=True):
        assert part.shape == (4, 8)
        assert np.array_equal(part, arr[sb.block.index])
        assert sb.spec.cube == 5
    assert np.array_equal(assemble_blocks(layout, parts, shape=(12, 16)), arr)


def test_assemble_checks_shapes_and_coverage():
    layout = resolve_dp_layout(DPPolicy(pe="column_wise"), shape=(2, 4), itemsize=4, num_pe=2, target_sip=0)
    good = split_blocks(np.ones((2, 4), dtype=np.float32), layout)
    with pytest.raises(ValueError, match="expected"):
        assemble_blocks(layout, [good[0], good[1][:1]], shape=(2, 4))
    with pytest.raises(ValueError, match="1 parts for 2 shards"):
        assemble_blocks(layout, good[:1], shape=(2, 4))
    with pytest.raises(ValueError, match="held by no shard"):
        assemble_blocks(layout[:1], good[:1], shape=(2, 4))
    with pytest.raises(ValueError, match="outside"):
        split_blocks(np.ones((2, 2)), layout)
