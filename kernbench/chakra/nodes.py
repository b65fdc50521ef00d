"""A trace's nodes as the feeder sees them: what each one does, read and checked once from its protobuf message.

ASTRA-sim's feeder reads the same attributes (``comm_type``, ``comm_size``, ``pg_name``, ``comm_src``, ``comm_dst``,
``comm_tag``, ``num_ops``, ``tensor_size``, ``is_cpu_op``); a node that lacks one it needs, or holds a value no
collective has, is a `ChakraError` naming the file and the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernbench.chakra.errors import ChakraError
from kernbench.chakra.schema import COMM_TYPES, NODE_TYPES

COLLECTIVES: dict[str, str] = {
    "ALL_REDUCE": "all_reduce",
    "REDUCE": "reduce",
    "ALL_GATHER": "all_gather",
    "REDUCE_SCATTER": "reduce_scatter",
    "BROADCAST": "broadcast",
    "ALL_TO_ALL": "all_to_all",
    "BARRIER": "barrier",
}
"""The comm_types the feeder runs, and the op each becomes (``torch.distributed``'s name, as ccl-perf's ``--op``)."""

WORLD_NAMES = ("", "0")
"""``pg_name`` values that mean the default group of every rank (as ASTRA-sim reads them)."""

KINDS = ("compute", "host", "collective", "send", "recv", "memory", "none")
"""What a node does: device compute, host (CPU) time, a collective, a point-to-point send or receive, HBM traffic,
or nothing (metadata and invalid nodes complete at once)."""


@dataclass(frozen=True)
class TraceNode:
    """One node: ``kind`` (of `KINDS`), ``deps`` (data and control dependencies together), ``duration_us`` (as
    given), and what its kind needs: ``op`` (a collective's, or ``load`` / ``store``), ``size`` bytes, ``group``
    (``pg_name``, "" for the world), ``peer`` and ``tag`` (point to point), ``num_ops`` and ``tensor_size``
    (a compute node's roofline; None when absent)."""

    id: int
    name: str
    kind: str
    deps: tuple[int, ...]
    duration_us: int = 0
    op: str = ""
    size: int = 0
    group: str = ""
    peer: int = -1
    tag: int = 0
    num_ops: int | None = None
    tensor_size: int | None = None

    @property
    def label(self) -> str:
        """``node 7 'layer3.bwd'``: how messages name it."""
        return f"node {self.id}" + (f" {self.name!r}" if self.name else "")


def attributes(msg: Any) -> dict[str, Any]:
    """A message's ``attr`` as name -> value (the first of each name; list values as Python lists)."""
    out: dict[str, Any] = {}
    for a in msg.attr:
        which = a.WhichOneof("value")
        if which is not None and a.name not in out:
            value = getattr(a, which)
            out[a.name] = list(value.values) if which.endswith("_list") else value
    return out


def decode(msg: Any, path: str) -> TraceNode:
    """The `TraceNode` of protobuf node ``msg`` of the file ``path``; a `ChakraError` for what it cannot run."""
    attrs = attributes(msg)
    node_id = int(msg.id)

    def fail(detail: str) -> ChakraError:
        return ChakraError(path, node_id, detail)

    def integer(name: str, minimum: int | None = None) -> int | None:
        value = attrs.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"attribute {name} must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise fail(f"attribute {name} must be >= {minimum}, got {value}")
        return int(value)

    def required(name: str, minimum: int, what: str) -> int:
        value = integer(name, minimum)
        if value is None:
            raise fail(f"{what} needs attribute {name}")
        return value

    deps = tuple(sorted({int(d) for d in (*msg.data_deps, *msg.ctrl_deps)}))
    base = {"id": node_id, "name": msg.name, "deps": deps, "duration_us": int(msg.duration_micros)}
    kind = next(k for k, v in NODE_TYPES.items() if v == msg.type)
    cpu = bool(attrs.get("is_cpu_op", False))
    if kind == "COMP_NODE":
        return TraceNode(
            kind="host" if cpu else "compute",
            num_ops=integer("num_ops", 0),
            tensor_size=integer("tensor_size", 0),
            **base,
        )
    if kind == "COMM_COLL_NODE":
        comm = integer("comm_type")
        if comm is None:  # PyTorch's CPU-side c10d:: ops: host time, not a collective
            return TraceNode(kind="host", **base)
        label = next((k for k, v in COMM_TYPES.items() if v == comm), None)
        if label is None:
            raise fail(f"unknown comm_type {comm} (Chakra's CollectiveCommType has 0..{max(COMM_TYPES.values())})")
        if label not in COLLECTIVES:
            raise fail(f"comm_type {label} is not supported; the feeder runs {', '.join(COLLECTIVES)}")
        op = COLLECTIVES[label]
        size = 0 if op == "barrier" else required("comm_size", 1, f"a {label} collective")
        group = attrs.get("pg_name", "")
        if not isinstance(group, str):
            raise fail(f"attribute pg_name must be a string, got {group!r}")
        return TraceNode(kind="collective", op=op, size=size, group="" if group in WORLD_NAMES else group, **base)
    if kind in ("COMM_SEND_NODE", "COMM_RECV_NODE"):
        send = kind == "COMM_SEND_NODE"
        peer = required("comm_dst" if send else "comm_src", -(1 << 31), "a point-to-point node")
        size = required("comm_size", 1, "a point-to-point node")
        tag = integer("comm_tag") or 0
        return TraceNode(kind="send" if send else "recv", size=size, peer=peer, tag=tag, **base)
    if kind in ("MEM_LOAD_NODE", "MEM_STORE_NODE"):
        size = required("tensor_size", 1, "a memory node")
        return TraceNode(kind="memory", op="load" if kind == "MEM_LOAD_NODE" else "store", size=size, **base)
    return TraceNode(kind="none", **base)  # METADATA_NODE, INVALID_NODE: done as soon as issued
