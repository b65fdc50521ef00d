"""Read and validate ``topology.yaml`` into a frozen `Topology`, or explain exactly what is wrong.

Nothing is simulated from an invalid file, so every check happens here, up front, and the first problem found is
raised as a `TopologyError` whose message starts with the file name and the dotted YAML path::

    topology.yaml: sip.cube_mesh.w: expected int >= 1, got 0
    topology.yaml: sip.cube_mesh.depth: unknown key; allowed keys in sip.cube_mesh: w, h, pitch_mm
    topology.yaml:7:12: YAML syntax error: mapping values are not allowed here

The per-key rules (type, bounds, required) come from the dataclasses in `kernbench.topology.schema`; the rules
that span keys (square SIP counts, sizes that must fit the physical address layout, ...) are in `_check_whole`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from kernbench.topology import physaddr, reserved
from kernbench.topology.errors import TopologyError
from kernbench.topology.schema import MIB, Topology
from kernbench.yaml_input import read_yaml_file, short_repr

# ------------------------------------------------------------------------------------------- schema-driven build


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _got(value: object, *, show_type: bool = False) -> str:
    if value is None:
        return "nothing (empty value)"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{short_repr(value)} ({type(value).__name__})" if show_type else short_repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"{short_repr(value)} ({type(value).__name__})"


def _bounds_text(meta: Mapping[str, Any]) -> str:
    ops = {"gt": ">", "ge": ">=", "le": "<="}
    return " and ".join(f"{op} {_number(meta[key])}" for key, op in ops.items() if meta.get(key) is not None)


def _number(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _expected(tp: Any, meta: Mapping[str, Any]) -> str:
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(tp))
    if get_origin(tp) is tuple:
        return f"a non-empty list, each {_expected(get_args(tp)[0], {})}"
    name = {int: "int", float: "float", str: "string"}[tp]
    bounds = _bounds_text(meta)
    return f"{name} {bounds}" if bounds else name


class _Builder:
    """Turns plain YAML data into the schema dataclasses, failing on the first problem with its path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> TopologyError:
        return TopologyError(self.source, path or "(top level)", problem)

    def section(self, cls: type, value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {_got(value)}")
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)]
        allowed = [f.name for f in fields]
        for key in value:
            if key not in allowed:
                where = path or "the top level"
                raise self.fail(_join(path, key), f"unknown key; allowed keys in {where}: {', '.join(allowed)}")
        kwargs = {}
        for f in fields:
            fpath = _join(path, f.name)
            if f.name not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise self.fail(fpath, f"missing required key ({_expected(hints[f.name], f.metadata)})")
                continue
            kwargs[f.name] = self.value(hints[f.name], f.metadata, value[f.name], fpath)
        return cls(**kwargs)

    def value(self, tp: Any, meta: Mapping[str, Any], value: Any, path: str) -> Any:
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.section(tp, value, path)
        if get_origin(tp) is Literal:
            if isinstance(value, str) and value in get_args(tp):
                return value
            raise self.fail(path, f"expected {_expected(tp, meta)}, got {_got(value)}")
        if get_origin(tp) is tuple:
            if not isinstance(value, list) or not value:
                raise self.fail(path, f"expected {_expected(tp, meta)}, got {_got(value)}")
            item = get_args(tp)[0]
            return tuple(self.value(item, {}, v, f"{path}[{i}]") for i, v in enumerate(value))
        if tp is str:
            if not isinstance(value, str):
                raise self.fail(path, f"expected string, got {_got(value)}")
            return value
        return self.number(tp, meta, value, path)

    def number(self, tp: type, meta: Mapping[str, Any], value: Any, path: str) -> int | float:
        ok = isinstance(value, int) if tp is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or (tp is float and not math.isfinite(value)):
            hint = ""
            if isinstance(value, str) and _parses_as_float(value):
                hint = " (YAML reads a number without a decimal point, such as 1e3, as a string: write 1000.0)"
            raise self.fail(path, f"expected {_expected(tp, meta)}, got {_got(value, show_type=True)}{hint}")
        gt, ge, le = meta.get("gt"), meta.get("ge"), meta.get("le")
        too_low = (gt is not None and not value > gt) or (ge is not None and not value >= ge)
        if too_low or (le is not None and value > le):
            why = f" ({meta['why']})" if meta.get("why") else ""
            raise self.fail(path, f"expected {_expected(tp, meta)}, got {_got(value)}{why}")
        return tp(value)


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------- whole-file rules


def _check_whole(topo: Topology, fail: typing.Callable[[str, str], TopologyError]) -> None:
    system = topo.system
    if system.sip_count > physaddr.MAX_SIPS:
        raise fail(
            "system.sip_count",
            f"expected <= {physaddr.MAX_SIPS} (PhysAddr has {physaddr.SIP_BITS} sip bits), got {system.sip_count}",
        )
    if system.topology in ("torus_2d", "mesh_2d_no_wrap"):
        side = math.isqrt(system.sip_count)
        if side * side != system.sip_count:
            raise fail(
                "system.sip_count",
                f"system.topology {system.topology} needs a square SIP count (1, 4, 9, 16, ...), "
                f"got {system.sip_count}",
            )
    mesh = topo.sip.cube_mesh
    if mesh.n_cubes > physaddr.MAX_CUBES:
        raise fail(
            "sip.cube_mesh",
            f"w x h = {mesh.w} x {mesh.h} = {mesh.n_cubes} cubes, expected <= {physaddr.MAX_CUBES} "
            f"(PhysAddr has {physaddr.CUBE_BITS} cube bits)",
        )
    layout = topo.cube.pe_layout
    for i, corner in enumerate(layout.corners):
        if corner in layout.corners[:i]:
            raise fail(f"cube.pe_layout.corners[{i}]", f"duplicate corner {corner}")
    if layout.pes_per_cube > physaddr.MAX_PES:
        raise fail(
            "cube.pe_layout.pe_per_corner",
            f"{len(layout.corners)} corners x {layout.pe_per_corner} = {layout.pes_per_cube} PEs per cube, "
            f"expected <= {physaddr.MAX_PES} (PhysAddr PE index is 4 bits)",
        )
    pe = topo.pe
    if pe.scheduler.tcm_reserved_mib >= pe.pe_tcm.size_mib:
        raise fail(
            "pe.scheduler.tcm_reserved_mib",
            f"expected < pe.pe_tcm.size_mib ({pe.pe_tcm.size_mib}), got {pe.scheduler.tcm_reserved_mib}",
        )
    _check_reserved(topo, fail)
    sizes = {
        "cube.hbm_ctrl.capacity_gib": topo.cube.hbm_ctrl.capacity_bytes,
        "cube.sram.size_mib": topo.cube.sram.size_bytes,
        "cube.m_cpu.mem_kib": topo.cube.m_cpu.mem_bytes,
        "sip.io_chiplet.io_cpu.mem_mib": topo.sip.io_chiplet.io_cpu.mem_bytes,
        "pe.pe_tcm.size_mib": pe.pe_tcm.size_bytes,
    }
    for path, size in sizes.items():
        if size > physaddr.MAX_OFFSET + 1:
            raise fail(path, f"{size} bytes do not fit the PhysAddr offset field ({physaddr.OFFSET_BITS} bits)")
    hbm = topo.cube.hbm_ctrl
    if hbm.capacity_bytes % (hbm.slices * hbm.interleave_bytes):
        raise fail(
            "cube.hbm_ctrl.interleave_bytes",
            f"capacity ({hbm.capacity_gib} GiB) must be a multiple of slices x interleave_bytes "
            f"({hbm.slices} x {hbm.interleave_bytes}) so every slice is the same size",
        )
    mmu = pe.pe_mmu
    if mmu.page_bytes & (mmu.page_bytes - 1):
        raise fail("pe.pe_mmu.page_bytes", f"expected a power of two, got {mmu.page_bytes}")
    if mmu.va_base % mmu.page_bytes:
        raise fail("pe.pe_mmu.va_base", f"expected a multiple of page_bytes ({mmu.page_bytes}), got {mmu.va_base:#x}")
    if mmu.va_end > 1 << 64:
        raise fail("pe.pe_mmu.va_size_gib", f"VA space ends at {mmu.va_end:#x}, past 2**64")


def _check_reserved(topo: Topology, fail: typing.Callable[[str, str], TopologyError]) -> None:
    """The memories must hold what the system reserves in them (`kernbench.topology.reserved`), with room left."""
    tcm_min_mib = reserved.TCM_TOP_AREA // MIB + 1
    if topo.pe.scheduler.tcm_reserved_mib < tcm_min_mib:
        raise fail(
            "pe.scheduler.tcm_reserved_mib",
            f"expected int >= {tcm_min_mib}, got {topo.pe.scheduler.tcm_reserved_mib} (its top "
            f"{reserved.RING_AREA // MIB} MiB + {reserved.SYNC_AREA + reserved.MAILBOX_AREA} bytes hold the IPCQ "
            "receive rings, the barrier's rings and the credit mailboxes, the rest is the scheduler's staging area "
            "for tiles)",
        )
    sram_rings_mib = topo.pes_per_cube * reserved.SRAM_RING_AREA // MIB
    if topo.cube.sram.size_mib <= sram_rings_mib:
        raise fail(
            "cube.sram.size_mib",
            f"expected int > {sram_rings_mib}, got {topo.cube.sram.size_mib} (its top {topo.pes_per_cube} x "
            f"{reserved.SRAM_RING_AREA // MIB} MiB hold the IPCQ receive rings of the cube's {topo.pes_per_cube} PEs)",
        )


# ------------------------------------------------------------------------------------------------- public API

DEFAULT_TOPOLOGY_PATH = Path(__file__).with_name("topology.yaml")
"""The system simulated when no topology file is given: shipped in the package, so it is found outside the
repository too (the repository root's ``topology.yaml`` links to it)."""


def parse_topology(data: Mapping[str, Any], source: str = "<dict>") -> Topology:
    """Validate already-parsed YAML data; ``source`` is the name that starts every error message."""
    builder = _Builder(source)
    parts = builder.section(_TopLevel, data, "")
    topo = Topology(system=parts.system, sip=parts.sip, cube=parts.cube, pe=parts.pe, source=source)
    _check_whole(topo, builder.fail)
    return topo


def load_topology(
    path: str | os.PathLike[str], *, sips: int | None = None, sip_topology: str | None = None
) -> Topology:
    """Read, parse and validate a topology file; every problem is a `TopologyError` naming the file.

    ``sips`` and ``sip_topology`` (the CLI's ``--sips`` / ``--sip-topology``) replace ``system.sip_count`` and
    ``system.topology`` before validation, so every check of the file applies to them too; the source then says
    so (``topology.yaml (with --sips 6)``), since the value in the message is not the file's.
    """
    source = os.fspath(path)
    data = read_yaml_file(path, source, TopologyError)
    given = [
        (flag, key, value)
        for flag, key, value in (("--sips", "sip_count", sips), ("--sip-topology", "topology", sip_topology))
        if value is not None
    ]
    if given:
        source += " (with " + " ".join(f"{flag} {value}" for flag, _, value in given) + ")"
        if isinstance(data, Mapping) and isinstance(data.get("system"), Mapping):  # else the file's error stands
            data = {**data, "system": {**data["system"], **{key: value for _, key, value in given}}}
    return parse_topology(data, source=source)


def _top_level_fields() -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(Topology)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(Topology) if f.metadata.get("yaml", True)]


# The YAML keys of a topology file: Topology's fields minus the bookkeeping ones (``source``).
_TopLevel = dataclasses.make_dataclass("_TopLevel", _top_level_fields(), frozen=True)

__all__ = ["DEFAULT_TOPOLOGY_PATH", "load_topology", "parse_topology"]
