"""A Chakra trace file on disk: length-delimited protobuf messages, a ``GlobalMetadata`` then the ``Node``s.

Each message is preceded by its length as a base-128 varint (protobuf's ``writeDelimitedTo``, what Chakra's
``protolib.encodeMessage`` and ASTRA-sim's feeder use). Anything that is not such a stream is a `ChakraError`
naming the file and where it went wrong: a file that ends inside a message (truncated), or bytes that are not a
Chakra message (another format).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from kernbench.chakra.errors import ChakraError
from kernbench.chakra.schema import NODE_TYPES, GlobalMetadata, Node

MAX_VARINT_BYTES = 10
NOT_CHAKRA = "not a Chakra execution trace (length-delimited GlobalMetadata, then Nodes)"


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def write_messages(out: BinaryIO, messages: Iterable[Any]) -> None:
    """Write each message with its length before it."""
    for msg in messages:
        body = msg.SerializeToString()
        out.write(encode_varint(len(body)))
        out.write(body)


class _Cut(Exception):
    """The stream ends inside a message (its length or its body)."""


def _frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, body) of each length-delimited message of ``data``; `_Cut` where a length or a body is cut short."""
    pos, index = 0, 0
    while pos < len(data):
        start, length, shift = pos, 0, 0
        while True:
            if pos >= len(data) or pos - start >= MAX_VARINT_BYTES:
                raise _Cut(f"message {index} at byte {start} has no complete length")
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if pos + length > len(data):
            raise _Cut(f"message {index} at byte {start} is {length} bytes long, the file has {len(data) - pos} left")
        yield start, data[pos : pos + length]
        pos += length
        index += 1


def read_messages(path: Path) -> tuple[Any, list[Any]]:
    """The ``GlobalMetadata`` and ``Node``s of the trace at ``path``.

    A file whose first message is not a ``GlobalMetadata`` with a version (an empty file, another format) is not a
    Chakra trace; a later message that is not a ``Node`` of a known type, or a stream cut short, is named by the
    node before it."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ChakraError(name, None, f"cannot read it: {exc.strerror or exc}") from None
    frames = _frames(data)
    meta = GlobalMetadata()
    try:
        first = next(frames, None)
        if first is not None:
            meta.ParseFromString(first[1])
    except (_Cut, DecodeError) as exc:
        raise ChakraError(name, None, f"{NOT_CHAKRA}: {exc}") from None
    if first is None:
        raise ChakraError(name, None, f"{NOT_CHAKRA}: the file is empty")
    if not meta.version or _unknown(meta):
        raise ChakraError(name, None, f"{NOT_CHAKRA}: its first message is no GlobalMetadata with a version")
    nodes: list[Any] = []
    try:
        for offset, body in frames:
            node = Node()
            try:
                node.ParseFromString(body)
            except DecodeError:
                node = None
            if node is None or _unknown(node) or node.type not in NODE_TYPES.values():
                where = f"after node {nodes[-1].id}" if nodes else "the first node"
                raise ChakraError(name, None, f"the message at byte {offset} ({where}) is not a Chakra Node")
            nodes.append(node)
    except _Cut as exc:
        last = nodes[-1].id if nodes else None
        raise ChakraError(
            name, last, f"truncated {'after this node' if nodes else 'in the first node'}: {exc}"
        ) from None
    return meta, nodes


def _unknown(msg: Any) -> bool:
    """Whether ``msg`` held fields the schema does not have: bytes of another format often parse as such."""
    return len(UnknownFieldSet(msg)) > 0 or any(_unknown(a) for a in getattr(msg, "attr", ()))
