"""msgpack encoding of message payloads, with numpy arrays and scalars.

Every cross-LP payload goes through this codec, also between LPs of one
process, so a model sees the same (copied) data whatever the partition.
Tuples decode as lists, as usual with msgpack. The one shortcut,
:func:`pack`, skips the codec for immutable scalars that it would return
unchanged (same value, same type), so the receiver still cannot tell.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import numpy as np

__all__ = ["PLAIN", "CodecError", "decode", "encode", "pack", "roundtrip", "unpack"]

_EXT_NDARRAY = 1
_EXT_NPSCALAR = 2


class CodecError(TypeError):
    """A payload that cannot travel between LPs."""


def _header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """``len(dtype.str), dtype.str, ndim, shape (u64 each)``: fixed binary, decoded without a msgpack unpacker
    (an unpacker per array cost tens of microseconds per inter-SIP message)."""
    code = dtype.str.encode("ascii")
    return struct.pack(f"<B{len(code)}sB{len(shape)}Q", len(code), code, len(shape), *shape)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise CodecError(f"numpy array of dtype {obj.dtype} cannot be sent between LPs")
        arr = np.ascontiguousarray(obj)
        return msgpack.ExtType(_EXT_NDARRAY, _header(arr.dtype, arr.shape) + arr.tobytes())
    if isinstance(obj, np.generic):
        return msgpack.ExtType(_EXT_NPSCALAR, _header(obj.dtype, ()) + obj.tobytes())
    if isinstance(obj, int):
        raise CodecError(f"the integer {obj!r:.40} is outside what msgpack carries (-2**63 .. 2**64-1)")
    raise CodecError(f"cannot send an object of type {type(obj).__name__} between LPs: {obj!r:.80}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code in (_EXT_NDARRAY, _EXT_NPSCALAR):
        n = data[0]
        dtype = np.dtype(data[1 : 1 + n].decode("ascii"))
        ndim = data[1 + n]
        start = 2 + n + 8 * ndim
        shape = struct.unpack_from(f"<{ndim}Q", data, 2 + n)
        raw = np.frombuffer(data, dtype=dtype, offset=start)
        if code == _EXT_NPSCALAR:
            return raw[0]
        return raw.reshape(shape).copy()
    return msgpack.ExtType(code, data)


def encode(obj: Any) -> bytes:
    """Encode ``obj`` (msgpack types, numpy arrays and scalars) to bytes."""
    try:
        return msgpack.packb(obj, default=_default, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"cannot encode payload: {exc}") from exc


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode bytes written by :func:`encode`."""
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def roundtrip(obj: Any) -> Any:
    """Return a deep copy of ``obj`` as the receiving LP would see it."""
    return decode(encode(obj))


# Types whose values decode(encode(x)) returns unchanged, with the same type: a message carries them as they are.
PLAIN = frozenset({type(None), bool, float})
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def pack(payload: Any) -> Any:
    """What a message carries for ``payload``: itself when immutable and msgpack-exact, else its encoding.

    Encoded payloads are always ``bytes`` (so a ``bytes`` payload is encoded too), which is how
    :func:`unpack` tells them apart.
    """
    kind = type(payload)
    if kind in PLAIN:
        return payload
    if kind is int:
        if _INT_MIN <= payload <= _INT_MAX:
            return payload
    elif kind is str and payload.isascii():
        return payload
    return encode(payload)


def unpack(carried: Any) -> Any:
    """The receiver's private copy of a payload carried as :func:`pack` made it."""
    return decode(carried) if type(carried) is bytes else carried
