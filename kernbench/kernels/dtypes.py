"""Tensor element types by name, and their byte encoding in simulated memory.

Simulated memories hold raw little-endian bytes, so a tensor's dtype is a name (``"f16"``, ``"bf16"``, ...) that
fixes its item size and how values become bytes. numpy has no bfloat16: a ``bf16`` element is stored as the top
16 bits of the float32 with the same value (rounded to nearest, ties to even), carried in numpy as ``uint16``
bit patterns. `decode` hands bf16 back as float32 values, since that is what numpy can compute with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DTypeInfo:
    """One tensor dtype: ``storage`` is the numpy dtype whose bytes are the memory image (uint16 for bf16)."""

    name: str
    itemsize: int
    storage: np.dtype


def _info(name: str, storage: str) -> DTypeInfo:
    dt = np.dtype(storage)
    return DTypeInfo(name=name, itemsize=dt.itemsize, storage=dt)


# Explicit little-endian storage, so the memory image does not depend on the host's byte order.
_DTYPES: dict[str, DTypeInfo] = {
    info.name: info
    for info in (
        _info("f16", "<f2"),
        _info("f32", "<f4"),
        _info("bf16", "<u2"),
        _info("i8", "i1"),
        _info("i16", "<i2"),
        _info("i32", "<i4"),
        _info("i64", "<i8"),
        _info("u8", "u1"),
        _info("u16", "<u2"),
        _info("u32", "<u4"),
    )
}

DTYPE_NAMES: tuple[str, ...] = tuple(_DTYPES)

# numpy dtype -> name, for from_numpy; uint16 means u16 (bf16 never comes from a numpy array by itself).
_FROM_NUMPY: dict[np.dtype, str] = {
    np.dtype(np.float16): "f16",
    np.dtype(np.float32): "f32",
    np.dtype(np.int8): "i8",
    np.dtype(np.int16): "i16",
    np.dtype(np.int32): "i32",
    np.dtype(np.int64): "i64",
    np.dtype(np.uint8): "u8",
    np.dtype(np.uint16): "u16",
    np.dtype(np.uint32): "u32",
}


def dtype_info(name: str) -> DTypeInfo:
    """Look a dtype up by name; an unknown name is a ValueError that lists the valid ones."""
    info = _DTYPES.get(name) if isinstance(name, str) else None
    if info is None:
        raise ValueError(f"unknown dtype {name!r}; valid dtypes: {', '.join(DTYPE_NAMES)}")
    return info


def itemsize(name: str) -> int:
    """Bytes per element of dtype ``name``."""
    return dtype_info(name).itemsize


def numpy_dtype_name(dtype: np.dtype | type | str) -> str:
    """The tensor dtype name for a numpy dtype (``from_numpy``); float64 and friends are refused, not narrowed."""
    dt = np.dtype(dtype)
    name = _FROM_NUMPY.get(dt.newbyteorder("=")) if dt.kind in "fiu" else None
    if name is None:
        supported = ", ".join(str(d) for d in _FROM_NUMPY)
        raise ValueError(f"unsupported numpy dtype {dt}; supported: {supported} (cast first, e.g. .astype('f4'))")
    return name


# ------------------------------------------------------------------------------------------------------ bfloat16


def to_bf16_bits(values: np.ndarray | Sequence[float] | float) -> np.ndarray:
    """bfloat16 bit patterns (uint16) of ``values`` taken as float32, rounded to nearest, ties to even.

    NaNs stay NaN (quiet, sign kept); values past the largest bf16 round to infinity, as IEEE rounding does.
    """
    f32 = np.asarray(values, dtype=np.float32)
    bits = f32.view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16) & 0xFFFF
    quiet_nan = (bits >> 16) | 0x0040
    return np.where(np.isnan(f32), quiet_nan, rounded).astype(np.uint16)


def from_bf16_bits(bits: np.ndarray | Sequence[int]) -> np.ndarray:
    """float32 values of bfloat16 bit patterns (exact: every bf16 is a float32)."""
    u16 = np.asarray(bits, dtype=np.uint16)
    return (u16.astype(np.uint32) << 16).view(np.float32)


# ------------------------------------------------------------------------------------------------ bytes <-> values


def encode(array: np.ndarray | Sequence[float] | float, name: str) -> np.ndarray:
    """The memory image of ``array`` as dtype ``name``: a flat uint8 array in C order.

    Values are cast like numpy's ``astype`` (so a float32 host array copied into an f16 tensor is rounded);
    for bf16 the values go through float32 and `to_bf16_bits`.
    """
    info = dtype_info(name)
    src = np.asarray(array)
    stored = to_bf16_bits(src) if name == "bf16" else src.astype(info.storage, copy=False)
    return np.ascontiguousarray(stored).reshape(-1).view(np.uint8)


def decode(
    raw: np.ndarray | bytes | bytearray | memoryview, name: str, shape: Sequence[int], *, copy: bool = True
) -> np.ndarray:
    """Values of dtype ``name`` and ``shape`` from their memory image (a fresh array, not a view of ``raw``,
    unless ``copy=False``).

    bf16 comes back as float32 values; every other dtype as its own numpy dtype (native byte order).
    ``copy=False``: ``raw`` is a private array the caller gives up (a memory read), and the values may be a view
    of it when no conversion is needed.
    """
    info = dtype_info(name)
    buf = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw
    if buf.dtype != np.uint8:
        raise ValueError(f"decode: raw must be uint8 bytes, got an array of {buf.dtype}")
    count = math.prod(shape)
    if buf.size != count * info.itemsize:
        raise ValueError(
            f"decode: {buf.size} bytes cannot hold shape {tuple(shape)} of {name} "
            f"({count} x {info.itemsize} = {count * info.itemsize} bytes)"
        )
    stored = np.ascontiguousarray(buf).view(info.storage).reshape(tuple(shape))
    if name == "bf16":
        return from_bf16_bits(stored)
    return stored.astype(info.storage.newbyteorder("="), copy=copy)
