"""Build Chakra traces in Python: one `TraceWriter` per rank, written as ``PREFIX.<rank>.et`` (ASTRA-sim's naming).

    w = TraceWriter()
    grad = w.comp("layer0.bwd", duration_us=40)
    w.collective("all_reduce", 4 << 20, deps=[grad])
    w.write("step.0.et")

Node ids count from 0 in the order nodes are added; ``deps`` become ``data_deps``. Attributes are written as the
Chakra converter and ASTRA-sim's microbenchmarks write them (``comm_type`` and sizes as ``int64_val``, ``pg_name`` as
``string_val``, ``is_cpu_op`` as ``bool_val``), so ASTRA-sim reads these files too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kernbench.chakra.nodes import COLLECTIVES
from kernbench.chakra.schema import COMM_TYPES, NODE_TYPES, AttributeProto, GlobalMetadata, Node
from kernbench.chakra.stream import write_messages

VERSION = "0.0.4"
"""The schema version ASTRA-sim's microbenchmarks carry."""
COMM_TYPE_OF = {op: COMM_TYPES[label] for label, op in COLLECTIVES.items()}


def attribute(name: str, value: Any) -> Any:
    """An ``AttributeProto``: bool, int (int64), float (double) or str."""
    a = AttributeProto(name=name)
    if isinstance(value, bool):
        a.bool_val = value
    elif isinstance(value, int):
        a.int64_val = value
    elif isinstance(value, float):
        a.double_val = value
    elif isinstance(value, str):
        a.string_val = value
    else:
        raise TypeError(f"attribute {name}: expected bool, int, float or str, got {value!r}")
    return a


class TraceWriter:
    """The nodes of one rank's trace, in the order they are added."""

    def __init__(self, version: str = VERSION) -> None:
        self.version = version
        self.nodes: list[Any] = []

    def add(
        self,
        node_type: str,
        name: str = "",
        *,
        deps: Iterable[int] = (),
        ctrl_deps: Iterable[int] = (),
        duration_us: int = 0,
        node_id: int | None = None,
        **attrs: Any,
    ) -> int:
        """A node of ``node_type`` (``"COMP_NODE"``, ``"COMM_COLL_NODE"``, ... as in ``NodeType``) with ``attrs``
        (None values left out); its id (the next one unless ``node_id``)."""
        nid = len(self.nodes) if node_id is None else node_id
        node = Node(id=nid, name=name, type=NODE_TYPES[node_type], duration_micros=duration_us)
        node.data_deps.extend(deps)
        node.ctrl_deps.extend(ctrl_deps)
        node.attr.extend(attribute(k, v) for k, v in attrs.items() if v is not None)
        self.nodes.append(node)
        return nid

    def comp(
        self,
        name: str,
        duration_us: int = 0,
        *,
        deps: Iterable[int] = (),
        num_ops: int | None = None,
        tensor_size: int | None = None,
    ) -> int:
        """Device compute: ``duration_us`` as given, or when 0 a roofline from ``num_ops`` and ``tensor_size``."""
        return self.add(
            "COMP_NODE",
            name,
            deps=deps,
            duration_us=duration_us,
            is_cpu_op=False,
            num_ops=num_ops,
            tensor_size=tensor_size,
        )

    def host(self, name: str, duration_us: int, *, deps: Iterable[int] = ()) -> int:
        """Host time, as PyTorch's CPU-side ``c10d::`` ops come: a COMM_COLL node without ``comm_type``."""
        return self.add("COMM_COLL_NODE", name, deps=deps, duration_us=duration_us, is_cpu_op=True)

    def collective(self, op: str, size: int = 0, *, deps: Iterable[int] = (), group: str = "", name: str = "") -> int:
        """A collective ``op`` (``all_reduce``, ``all_gather``, ``reduce_scatter``, ``broadcast``, ``all_to_all``,
        ``reduce``, ``barrier``) of ``size`` bytes (``comm_size``, ASTRA-sim's meaning) on process group ``group``."""
        return self.add(
            "COMM_COLL_NODE",
            name or op,
            deps=deps,
            is_cpu_op=False,
            comm_type=COMM_TYPE_OF[op],
            comm_size=size or None,
            pg_name=group or None,
        )

    def send(self, dst: int, size: int, *, tag: int = 0, deps: Iterable[int] = (), name: str = "") -> int:
        return self.add(
            "COMM_SEND_NODE", name or f"send_to_{dst}", deps=deps, comm_dst=dst, comm_size=size, comm_tag=tag
        )

    def recv(self, src: int, size: int, *, tag: int = 0, deps: Iterable[int] = (), name: str = "") -> int:
        return self.add(
            "COMM_RECV_NODE", name or f"recv_from_{src}", deps=deps, comm_src=src, comm_size=size, comm_tag=tag
        )

    def memory(self, op: str, size: int, *, deps: Iterable[int] = (), name: str = "") -> int:
        """HBM traffic of ``size`` bytes: ``op`` is ``load`` or ``store``."""
        node_type = {"load": "MEM_LOAD_NODE", "store": "MEM_STORE_NODE"}[op]
        return self.add(node_type, name or f"mem_{op}", deps=deps, tensor_size=size)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        with path.open("wb") as out:
            write_messages(out, [GlobalMetadata(version=self.version), *self.nodes])
        return path


def write_ranks(prefix: str | Path, writers: Sequence[TraceWriter]) -> list[Path]:
    """Rank ``r``'s trace to ``PREFIX.r.et`` for every writer, in rank order."""
    return [w.write(f"{prefix}.{rank}.et") for rank, w in enumerate(writers)]
