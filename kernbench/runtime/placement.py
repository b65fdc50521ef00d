"""Data-parallel placement: which PE of which cube holds which block of a tensor (intra-device only).

`DPPolicy` says how a 2D tensor of shape ``(M, K)`` is spread over *one* SIP: first over its cubes (``cube``),
then over each cube's PEs (``pe``). Each axis is ``"replicate"`` (a full copy per unit), ``"column_wise"`` (split
K) or ``"row_wise"`` (split M). It has no SIP axis: the SIP is chosen by ``torch.ahbm.set_device(rank)`` (rank =
SIP) and passed to `resolve_dp_policy` as ``target_sip``; a tensor spanning SIPs is a tensor-parallel construct
built from one tensor per rank, not a placement. Splits must be even: a dimension that the number of units does
not divide is an error, never a silently dropped remainder.

`ShardSpec` names a shard by structural coordinates ``(sip, cube, pe)`` (there is no flat PE index: a flat
integer is a silent-drift hazard, so a caller that needs one computes it where it needs it).

Byte layout. A tensor occupies one range of device virtual addresses laid out *shard-major*: every shard holds
one rectangular block of the global array (`Block`), stored contiguous in C order at ``offset_bytes`` from the
tensor's base VA, ``nbytes`` long. Column shard ``i`` of ``n`` therefore sits at ``i * (M * K/n * itemsize)``
and holds columns ``[i*K/n, (i+1)*K/n)``; a cube-then-PE split nests (cube ``c``, PE ``p`` of a column x column
split sits at ``c * cube_bytes + p * pe_bytes``). Replicas share an offset: every replica of a block is mapped at
the same VAs, each in its own cube's or PE's memory. Tiles (`tiled_column_major`, `tiled_row_major`) are laid out
as a row-major grid of C-order tiles: tile ``(mi, ki)`` sits at ``(mi * tiles_k + ki) * tile_bytes``.

`split_blocks` cuts a global numpy array into the per-shard blocks (what ``Tensor.copy_`` writes) and
`assemble_blocks` puts them back (what ``Tensor.numpy()`` returns; replicas: the first copy wins).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

Axis = Literal["replicate", "column_wise", "row_wise"]
AXIS_POLICIES: tuple[str, ...] = get_args(Axis)


@dataclass(frozen=True)
class DPPolicy:
    """Intra-device (cube x PE) data-parallel policy; ``num_cubes`` / ``num_pes`` of None mean the topology's."""

    cube: Axis = "replicate"
    pe: Axis = "replicate"
    num_cubes: int | None = None
    num_pes: int | None = None

    def __post_init__(self) -> None:
        for field_name in ("cube", "pe"):
            value = getattr(self, field_name)
            if value not in AXIS_POLICIES:
                raise ValueError(f"DPPolicy.{field_name}: expected one of {', '.join(AXIS_POLICIES)}, got {value!r}")
        for field_name in ("num_cubes", "num_pes"):
            value = getattr(self, field_name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DPPolicy.{field_name}: expected None or an int >= 1, got {value!r}")


@dataclass(frozen=True)
class ShardSpec:
    """One shard: structural coordinates (``cube`` and ``pe`` are local to the SIP and cube) and its bytes."""

    sip: int
    cube: int
    pe: int
    offset_bytes: int
    nbytes: int


@dataclass(frozen=True)
class Block:
    """The rectangle ``[row0, row1) x [col0, col1)`` of a 2D array that a shard holds."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.row1 - self.row0, self.col1 - self.col0)

    @property
    def index(self) -> tuple[slice, slice]:
        """Index the global array with this to get the block."""
        return (slice(self.row0, self.row1), slice(self.col0, self.col1))

    def shifted(self, rows: int, cols: int) -> Block:
        return Block(self.row0 + rows, self.row1 + rows, self.col0 + cols, self.col1 + cols)


@dataclass(frozen=True)
class LocalShard:
    """What a PE-level resolver returns: a cube-local PE, the shard's bytes, and its block of the resolver's shape."""

    local_pe: int
    offset_bytes: int
    nbytes: int
    block: Block


@dataclass(frozen=True)
class ShardBlock:
    """A placed shard with the block of the global array it holds: what copy-in and read-back need."""

    spec: ShardSpec
    block: Block


# ------------------------------------------------------------------------------------------------------ checks


def _check_shape(who: str, shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2 or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        raise ValueError(f"{who}: shape must be 2D (M, K) of ints >= 0, got {tuple(shape)!r}")
    return (shape[0], shape[1])


def _check_count(who: str, name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{who}: {name} must be an int >= 1, got {value!r}")


_M = "dimension 0 (M, rows)"
_K = "dimension 1 (K, columns)"


def _even_chunk(who: str, dim_name: str, dim: int, units: int, unit_name: str) -> int:
    if dim % units:
        raise ValueError(
            f"{who}: {dim_name} = {dim} is not divisible by {unit_name} = {units}; "
            f"uneven splits are not supported (pad it to a multiple of {units})"
        )
    return dim // units


def as_2d(shape: Sequence[int]) -> tuple[int, int]:
    """The (M, K) a tensor of ``shape`` is placed as: () -> (1, 1), (n,) -> (1, n), (..., K) -> (prod(...), K).

    Flattening the leading dimensions keeps the C-order bytes unchanged, so blocks of the 2D view are well defined.
    """
    dims = tuple(shape)
    if not dims:
        return (1, 1)
    if len(dims) == 1:
        return (1, dims[0])
    return (math.prod(dims[:-1]), dims[-1])


# ------------------------------------------------------------------------------------------------ PE resolvers


def replicate(*, shape: tuple[int, int], itemsize: int, num_pe: int) -> list[LocalShard]:
    """A full copy per PE, all at offset 0 (replicas share VAs)."""
    m, k = _check_shape("replicate", shape)
    _check_count("replicate", "num_pe", num_pe)
    return [LocalShard(i, 0, m * k * itemsize, Block(0, m, 0, k)) for i in range(num_pe)]


def column_wise(*, shape: tuple[int, int], itemsize: int, num_pe: int) -> list[LocalShard]:
    """Split K into ``num_pe`` equal column blocks; block ``i`` (M, K/num_pe) sits at ``i * chunk_bytes``."""
    m, k = _check_shape("column_wise", shape)
    _check_count("column_wise", "num_pe", num_pe)
    ck = _even_chunk("column_wise", _K, k, num_pe, "num_pe")
    chunk = m * ck * itemsize
    return [LocalShard(i, i * chunk, chunk, Block(0, m, i * ck, (i + 1) * ck)) for i in range(num_pe)]


def row_wise(*, shape: tuple[int, int], itemsize: int, num_pe: int) -> list[LocalShard]:
    """Split M into ``num_pe`` equal row blocks; block ``i`` (M/num_pe, K) sits at ``i * chunk_bytes``."""
    m, k = _check_shape("row_wise", shape)
    _check_count("row_wise", "num_pe", num_pe)
    cm = _even_chunk("row_wise", _M, m, num_pe, "num_pe")
    chunk = cm * k * itemsize
    return [LocalShard(i, i * chunk, chunk, Block(i * cm, (i + 1) * cm, 0, k)) for i in range(num_pe)]


def _tiles(
    who: str, shape: tuple[int, int], itemsize: int, num_pe: int, tile_m: int, tile_k: int, k_fastest: bool
) -> list[LocalShard]:
    m, k = _check_shape(who, shape)
    _check_count(who, "num_pe", num_pe)
    _check_count(who, "tile_m", tile_m)
    _check_count(who, "tile_k", tile_k)
    tiles_m = _even_chunk(who, _M, m, tile_m, "tile_m")
    tiles_k = _even_chunk(who, _K, k, tile_k, "tile_k")
    tile_bytes = tile_m * tile_k * itemsize
    order = (
        [(mi, ki) for mi in range(tiles_m) for ki in range(tiles_k)]
        if k_fastest
        else [(mi, ki) for ki in range(tiles_k) for mi in range(tiles_m)]
    )
    return [
        LocalShard(
            local_pe=n % num_pe,
            offset_bytes=(mi * tiles_k + ki) * tile_bytes,
            nbytes=tile_bytes,
            block=Block(mi * tile_m, (mi + 1) * tile_m, ki * tile_k, (ki + 1) * tile_k),
        )
        for n, (mi, ki) in enumerate(order)
    ]


def tiled_column_major(
    *, shape: tuple[int, int], itemsize: int, num_pe: int, tile_m: int, tile_k: int
) -> list[LocalShard]:
    """(tile_m, tile_k) tiles dealt round-robin to PEs, K index fastest: (0,0)->PE0, (0,1)->PE1, ...

    The name follows the old simulator (tiles walked along K first). The tile sizes must divide the shape.
    """
    return _tiles("tiled_column_major", shape, itemsize, num_pe, tile_m, tile_k, k_fastest=True)


def tiled_row_major(
    *, shape: tuple[int, int], itemsize: int, num_pe: int, tile_m: int, tile_k: int
) -> list[LocalShard]:
    """(tile_m, tile_k) tiles dealt round-robin to PEs, M index fastest: (0,0)->PE0, (1,0)->PE1, ..."""
    return _tiles("tiled_row_major", shape, itemsize, num_pe, tile_m, tile_k, k_fastest=False)


PeResolver = Callable[..., list[LocalShard]]
_PE_RESOLVERS: dict[str, PeResolver] = {"replicate": replicate, "column_wise": column_wise, "row_wise": row_wise}


# ------------------------------------------------------------------------------------------------- resolution


def _cube_splits(policy: str, shape: tuple[int, int], itemsize: int, num_cubes: int) -> list[tuple[Block, int]]:
    """Level 1: each cube's block of the global array and its byte offset (replicas: offset 0)."""
    m, k = shape
    if policy == "replicate":
        return [(Block(0, m, 0, k), 0)] * num_cubes
    if policy == "column_wise":
        ck = _even_chunk("cube-level column_wise", _K, k, num_cubes, "num_cubes")
        return [(Block(0, m, c * ck, (c + 1) * ck), c * m * ck * itemsize) for c in range(num_cubes)]
    cm = _even_chunk("cube-level row_wise", _M, m, num_cubes, "num_cubes")
    return [(Block(c * cm, (c + 1) * cm, 0, k), c * cm * k * itemsize) for c in range(num_cubes)]


def _override(field_name: str, override: int | None, available: int, what: str) -> int:
    """The policy's count where it sets one; it may use fewer units than the device has, never more."""
    if override is None:
        return available
    if override > available:
        raise ValueError(f"DPPolicy.{field_name} = {override} exceeds the {available} {what} available")
    return override


def place_local(
    local: Sequence[LocalShard], *, sip: int, cube: int, base_offset: int = 0, origin: tuple[int, int] = (0, 0)
) -> list[ShardBlock]:
    """Lift resolver output onto structural coordinates: shift bytes by ``base_offset`` and blocks by ``origin``."""
    return [
        ShardBlock(
            spec=ShardSpec(
                sip=sip, cube=cube, pe=ls.local_pe, offset_bytes=base_offset + ls.offset_bytes, nbytes=ls.nbytes
            ),
            block=ls.block.shifted(*origin),
        )
        for ls in local
    ]


def resolve_dp_layout(
    policy: DPPolicy, *, shape: tuple[int, int], itemsize: int, num_pe: int, num_cubes: int = 1, target_sip: int
) -> list[ShardBlock]:
    """Like `resolve_dp_policy`, keeping each shard's block of the global array (for copy-in and read-back)."""
    if not isinstance(policy, DPPolicy):
        raise TypeError(f"resolve_dp_policy: policy must be a DPPolicy, got {type(policy).__name__}")
    m, k = _check_shape("resolve_dp_policy", shape)
    _check_count("resolve_dp_policy", "num_pe", num_pe)
    _check_count("resolve_dp_policy", "num_cubes", num_cubes)
    _check_count("resolve_dp_policy", "itemsize", itemsize)
    if isinstance(target_sip, bool) or not isinstance(target_sip, int) or target_sip < 0:
        raise ValueError(f"resolve_dp_policy: target_sip must be an int >= 0, got {target_sip!r}")
    num_pe = _override("num_pes", policy.num_pes, num_pe, "PEs per cube")
    num_cubes = _override("num_cubes", policy.num_cubes, num_cubes, "cubes per SIP")
    resolver = _PE_RESOLVERS[policy.pe]
    out: list[ShardBlock] = []
    for cube, (cube_block, cube_offset) in enumerate(_cube_splits(policy.cube, (m, k), itemsize, num_cubes)):
        try:
            local = resolver(shape=cube_block.shape, itemsize=itemsize, num_pe=num_pe)
        except ValueError as exc:
            where = f"cube {cube}'s block of shape {cube_block.shape}" if policy.cube != "replicate" else "the tensor"
            raise ValueError(f"{policy}: PE-level split of {where}: {exc}") from None
        out += place_local(
            local, sip=target_sip, cube=cube, base_offset=cube_offset, origin=(cube_block.row0, cube_block.col0)
        )
    return out


def resolve_dp_policy(
    policy: DPPolicy, *, shape: tuple[int, int], itemsize: int, num_pe: int, num_cubes: int = 1, target_sip: int
) -> list[ShardSpec]:
    """The shards of a ``shape`` tensor on SIP ``target_sip``: cube split (level 1), then PE split (level 2).

    Ordered cube-major then PE. ``num_pe`` / ``num_cubes`` are the device's PEs per cube and cubes per SIP; the
    policy's ``num_pes`` / ``num_cubes``, where set, use that many of them instead (the first ones).
    """
    layout = resolve_dp_layout(
        policy, shape=shape, itemsize=itemsize, num_pe=num_pe, num_cubes=num_cubes, target_sip=target_sip
    )
    return [sb.spec for sb in layout]


# ------------------------------------------------------------------------------------------ numpy <-> shard blocks


def split_blocks(array: np.ndarray, layout: Sequence[ShardBlock]) -> list[np.ndarray]:
    """Each shard's block of the 2D global ``array`` (C-contiguous copies, in ``layout`` order)."""
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"split_blocks: expected a 2D array, got shape {arr.shape}")
    for sb in layout:
        if sb.block.row1 > arr.shape[0] or sb.block.col1 > arr.shape[1]:
            raise ValueError(f"split_blocks: block {sb.block} of {sb.spec} lies outside an array of shape {arr.shape}")
    return [np.ascontiguousarray(arr[sb.block.index]) for sb in layout]


def assemble_blocks(layout: Sequence[ShardBlock], parts: Sequence[np.ndarray], *, shape: tuple[int, int]) -> np.ndarray:
    """The global array rebuilt from per-shard blocks; where blocks overlap (replicas) the first one wins.

    Raises ValueError if a part's shape does not match its block or some element is covered by no shard.
    """
    m, k = _check_shape("assemble_blocks", shape)
    if len(parts) != len(layout):
        raise ValueError(f"assemble_blocks: {len(parts)} parts for {len(layout)} shards")
    if not parts:
        raise ValueError("assemble_blocks: no shards to assemble")
    out = np.zeros((m, k), dtype=np.asarray(parts[0]).dtype)
    filled = np.zeros((m, k), dtype=bool)
    for sb, part in zip(layout, parts, strict=True):
        block_part = np.asarray(part)
        if block_part.shape != sb.block.shape:
            raise ValueError(
                f"assemble_blocks: part of shape {block_part.shape} for {sb.spec}, expected {sb.block.shape}"
            )
        idx = sb.block.index
        done = filled[idx]
        if done.all():
            continue
        out[idx] = np.where(done, out[idx], block_part)
        filled[idx] = True
    if not filled.all():
        raise ValueError(f"assemble_blocks: {int((~filled).sum())} elements of shape {(m, k)} are held by no shard")
    return out


def split_for_policy(
    array: np.ndarray, policy: DPPolicy, *, num_pe: int, num_cubes: int = 1, target_sip: int = 0
) -> list[tuple[ShardSpec, np.ndarray]]:
    """Convenience: resolve ``policy`` for ``array`` (2D) and pair every shard with its block."""
    arr = np.asarray(array)
    layout = resolve_dp_layout(
        policy,
        shape=_check_shape("split_for_policy", arr.shape),
        itemsize=arr.dtype.itemsize,
        num_pe=num_pe,
        num_cubes=num_cubes,
        target_sip=target_sip,
    )
    return list(zip((sb.spec for sb in layout), split_blocks(arr, layout), strict=True))


def assemble_for_policy(
    parts: Sequence[np.ndarray], policy: DPPolicy, *, shape: tuple[int, int], num_pe: int, num_cubes: int = 1
) -> np.ndarray:
    """Inverse of `split_for_policy`: the global array from the blocks in resolution order."""
    if not parts:
        raise ValueError("assemble_for_policy: no parts")
    layout = resolve_dp_layout(
        policy,
        shape=shape,
        itemsize=np.asarray(parts[0]).dtype.itemsize,
        num_pe=num_pe,
        num_cubes=num_cubes,
        target_sip=0,
    )
    return assemble_blocks(layout, parts, shape=shape)
