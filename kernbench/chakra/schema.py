"""Chakra's protobuf schema (mlcommons/chakra ``schema/protobuf/et_def.proto``), built in code at import.

The message classes come from a ``FileDescriptorProto`` written out here field by field and handed to protobuf's
runtime (`descriptor_pool`, `message_factory`): no ``protoc`` at build time and no generated module to keep in
step with it (docs/adr/0022-chakra-traces.md). Names, numbers and types are the .proto's, so the bytes
are Chakra's: a trace written here is read by ASTRA-sim's feeder and the other way round.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "ChakraProtoMsg"

NODE_TYPES: dict[str, int] = {
    "INVALID_NODE": 0,
    "METADATA_NODE": 1,
    "MEM_LOAD_NODE": 2,
    "MEM_STORE_NODE": 3,
    "COMP_NODE": 4,
    "COMM_SEND_NODE": 5,
    "COMM_RECV_NODE": 6,
    "COMM_COLL_NODE": 7,
}
COMM_TYPES: dict[str, int] = {
    "ALL_REDUCE": 0,
    "REDUCE": 1,
    "ALL_GATHER": 2,
    "GATHER": 3,
    "SCATTER": 4,
    "BROADCAST": 5,
    "ALL_TO_ALL": 6,
    "REDUCE_SCATTER": 7,
    "REDUCE_SCATTER_BLOCK": 8,
    "BARRIER": 9,
}

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _F.TYPE_DOUBLE,
    "float": _F.TYPE_FLOAT,
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
    "sint32": _F.TYPE_SINT32,
    "sint64": _F.TYPE_SINT64,
    "fixed32": _F.TYPE_FIXED32,
    "fixed64": _F.TYPE_FIXED64,
    "sfixed32": _F.TYPE_SFIXED32,
    "sfixed64": _F.TYPE_SFIXED64,
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}
LIST_OF = {
    "double": "DoubleList",
    "float": "FloatList",
    "int32": "Int32List",
    "int64": "Int64List",
    "uint32": "Uint32List",
    "uint64": "Uint64List",
    "sint32": "Sint32List",
    "sint64": "Sint64List",
    "fixed32": "Fixed32List",
    "fixed64": "Fixed64List",
    "sfixed32": "Sfixed32List",
    "sfixed64": "Sfixed64List",
    "bool": "BoolList",
    "string": "StringList",
    "bytes": "BytesList",
}
"""AttributeProto's ``oneof value``: for each scalar type, a ``<type>_val`` field and a ``<type>_list`` message, in
the .proto's order (field numbers 3, 4, 5, 6, ...)."""


def _field(msg: descriptor_pb2.DescriptorProto, name: str, number: int, kind: str, repeated: bool = False) -> _F:
    """A field of scalar type ``kind``, or of message / enum type ``kind`` (a name in the package)."""
    f = msg.field.add(name=name, number=number, label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if kind in _SCALARS:
        f.type = _SCALARS[kind]
    else:
        f.type = _F.TYPE_ENUM if kind in ("NodeType", "CollectiveCommType") else _F.TYPE_MESSAGE
        f.type_name = f".{PACKAGE}.{kind}"
    return f


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name="et_def.proto", package=PACKAGE, syntax="proto3")
    attr = proto.message_type.add(name="AttributeProto")
    _field(attr, "name", 1, "string")
    _field(attr, "doc_string", 2, "string")
    attr.oneof_decl.add(name="value")
    for i, (scalar, listed) in enumerate(LIST_OF.items()):
        _field(attr, f"{scalar}_val", 3 + 2 * i, scalar).oneof_index = 0
        _field(attr, f"{scalar}_list", 4 + 2 * i, listed).oneof_index = 0
    for scalar, listed in LIST_OF.items():
        _field(proto.message_type.add(name=listed), "values", 1, scalar, repeated=True)
    meta = proto.message_type.add(name="GlobalMetadata")
    _field(meta, "version", 1, "string")
    _field(meta, "attr", 2, "AttributeProto", repeated=True)
    for name, values in (("NodeType", NODE_TYPES), ("CollectiveCommType", COMM_TYPES)):
        enum = proto.enum_type.add(name=name)
        for label, number in values.items():
            enum.value.add(name=label, number=number)
    node = proto.message_type.add(name="Node")
    for name, number, kind, repeated in (
        ("id", 1, "uint64", False),
        ("name", 2, "string", False),
        ("type", 3, "NodeType", False),
        ("ctrl_deps", 4, "uint64", True),
        ("data_deps", 5, "uint64", True),
        ("start_time_micros", 6, "uint64", False),
        ("duration_micros", 7, "uint64", False),
        ("inputs", 8, "IOInfo", False),
        ("outputs", 9, "IOInfo", False),
        ("attr", 10, "AttributeProto", True),
    ):
        _field(node, name, number, kind, repeated)
    io = proto.message_type.add(name="IOInfo")
    for number, name in enumerate(("values", "shapes", "types"), 1):
        _field(io, name, number, "string")
    tensor = proto.message_type.add(name="Tensor")
    for number, (name, kind) in enumerate(
        (
            ("tensor_id", "uint64"),
            ("storage_id", "uint64"),
            ("offset", "uint64"),
            ("num_elem", "uint64"),
            ("elem_bytes", "uint64"),
            ("device", "string"),
        ),
        1,
    ):
        _field(tensor, name, number, kind)
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())


def message_class(name: str) -> Any:
    """The message class ``name`` of the schema (``"Node"``, ``"GlobalMetadata"``, ``"AttributeProto"``, ...)."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


GlobalMetadata = message_class("GlobalMetadata")
Node = message_class("Node")
AttributeProto = message_class("AttributeProto")
