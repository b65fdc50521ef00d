"""msgpack encoding of message payloads, with numpy arrays and scalars.

Every cross-LP payload goes through this codec, also between LPs of one
process, so a model sees the same (copied) data whatever the partition.
Tuples decode as lists, as usual with msgpack.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

__all__ = ["CodecError", "decode", "encode", "roundtrip"]

_EXT_NDARRAY = 1
_EXT_NPSCALAR = 2


class CodecError(TypeError):
    """A payload that cannot travel between LPs."""


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise CodecError(f"numpy array of dtype {obj.dtype} cannot be sent between LPs")
        arr = np.ascontiguousarray(obj)
        header = msgpack.packb([arr.dtype.str, list(arr.shape)])
        return msgpack.ExtType(_EXT_NDARRAY, header + arr.tobytes())
    if isinstance(obj, np.generic):
        return msgpack.ExtType(_EXT_NPSCALAR, msgpack.packb([obj.dtype.str]) + obj.tobytes())
    raise CodecError(f"cannot send an object of type {type(obj).__name__} between LPs: {obj!r:.80}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code in (_EXT_NDARRAY, _EXT_NPSCALAR):
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(data)
        header = unpacker.unpack()
        raw = data[unpacker.tell():]
        dtype = np.dtype(header[0])
        if code == _EXT_NPSCALAR:
            return np.frombuffer(raw, dtype=dtype)[0]
        return np.frombuffer(raw, dtype=dtype).reshape(header[1]).copy()
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
