"""Write docs/reference/topology.md: every key of topology.yaml, generated from the schema so it cannot drift.

The dataclasses of `kernbench.topology.schema` are the schema (the loader walks them too): each field is a YAML key
with a type, a default (a field without one is required) and bounds (``bounded(gt=, ge=, le=)``) or
choices (``Literal``). The shipped file, ``kernbench/topology/topology.yaml``, adds each key's value and its
comment. ``tests/test_topology_reference.py`` fails when the page is not what this script writes now.

    python scripts/topology_reference.py                                  # print the page
    python scripts/topology_reference.py --output docs/reference/topology.md
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from kernbench.topology import DEFAULT_TOPOLOGY_PATH, Topology

_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_]\w*):(?P<rest>.*)$")
_COMMENT_ONLY = re.compile(r"^(?P<indent> +)#\s?(?P<text>.*)$")


@dataclass(frozen=True)
class Key:
    """One YAML key of the schema: a section (a mapping of keys) or a value."""

    path: str
    section: bool
    type: str
    default: str
    bounds: str
    value: str
    comment: str


def yaml_lines(text: str) -> dict[str, tuple[str, str]]:
    """Dotted YAML path -> (its value as written, its comment with the indented comment-only lines that go on
    with it); a section's value is empty.

    The file is plain block YAML (one key per line, nesting by indentation), so a line's path is the keys of the
    open lines less indented than it."""
    lines: dict[str, tuple[str, str]] = {}
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing keys
    last = ""
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            indent = len(match.group("indent"))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group("key")))
            last = ".".join(key for _, key in stack)
            value, _, comment = match.group("rest").partition("#")
            lines[last] = (value.strip(), comment.strip())
            continue
        more = _COMMENT_ONLY.match(line)
        if more and last:  # an indented comment line goes on with the key above it
            value, comment = lines[last]
            lines[last] = (value, f"{comment} {more.group('text').strip()}".strip())
    return lines


def type_text(tp: Any) -> str:
    """What the loader accepts for a field of type ``tp``."""
    if dataclasses.is_dataclass(tp):
        return "mapping"
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(tp))
    if get_origin(tp) is tuple:
        return f"non-empty list, each {type_text(get_args(tp)[0])}"
    return {int: "int", float: "float", str: "string"}[tp]


def bounds_text(meta: typing.Mapping[str, Any]) -> str:
    """A field's bounds as the loader checks them, with the reason a bound has."""
    ops = {"gt": ">", "ge": ">=", "le": "<="}
    bounds = " and ".join(f"{op} {_number(meta[key])}" for key, op in ops.items() if meta.get(key) is not None)
    return f"{bounds} ({meta['why']})" if bounds and meta.get("why") else bounds


def _number(bound: float) -> str:
    return f"{bound:,}" if isinstance(bound, int) else f"{bound:g}"


def schema_keys(cls: type = Topology, prefix: str = "", written: dict[str, tuple[str, str]] | None = None) -> list[Key]:
    """Every YAML key of ``cls`` (default: a whole topology file), depth first in field order; value and comment
    from ``written`` (default: the shipped file's `yaml_lines`)."""
    written = yaml_lines(DEFAULT_TOPOLOGY_PATH.read_text()) if written is None else written
    hints = typing.get_type_hints(cls)
    keys: list[Key] = []
    for f in dataclasses.fields(cls):
        if not f.metadata.get("yaml", True):
            continue
        path = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        section = dataclasses.is_dataclass(tp)
        value, comment = written.get(path, ("", ""))
        default = "required" if f.default is dataclasses.MISSING else f"`{f.default!r}`"
        keys.append(Key(path, section, type_text(tp), default, bounds_text(f.metadata), value, comment))
        if section:
            keys += schema_keys(tp, path, written)
    return keys


def section_classes(cls: type = Topology, prefix: str = "") -> Iterator[tuple[str, type]]:
    """(dotted path, dataclass) of every section, the whole file first (path "")."""
    yield prefix, cls
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("yaml", True) and dataclasses.is_dataclass(hints[f.name]):
            yield from section_classes(hints[f.name], f"{prefix}.{f.name}" if prefix else f.name)


def docstring(cls: type) -> str:
    """The class's own docstring on one line ('' for the one dataclass() makes up)."""
    doc = cls.__doc__ or ""
    return "" if doc.startswith(f"{cls.__name__}(") else " ".join(doc.split())


def derived(cls: type) -> list[str]:
    """The values a section computes from its keys (its properties), each with its docstring."""
    out = []
    for name, attr in vars(cls).items():
        fn = attr.fget if isinstance(attr, property) else getattr(attr, "func", None)  # cached_property: .func
        if fn is not None and not name.startswith("_"):
            doc = " ".join((fn.__doc__ or "").split())
            out.append(f"- `{name}`" + (f": {prose(doc)}" if doc else ""))
    return out


def cell(text: str) -> str:
    """Text for a table cell: ``|`` would end the cell."""
    return text.replace("|", "\\|")


def prose(text: str) -> str:
    """A comment as Markdown text: its ``*`` (``2*m*n*k``) are multiplications, not emphasis."""
    return text.replace("*", "\\*")


def render() -> str:
    """The whole page."""
    keys = schema_keys()
    lines = [
        "# topology.yaml reference",
        "",
        "<!-- Generated by scripts/topology_reference.py from kernbench/topology/schema.py and the comments of",
        "     kernbench/topology/topology.yaml; tests/test_topology_reference.py fails when it is stale. -->",
        "",
        "Every key of a topology file, section by section: its type, its default (*required*: the file must set",
        "it), the bounds or choices the loader checks (`kernbench/topology/loader.py`), its value in the shipped file",
        "(`kernbench/topology/topology.yaml`, which `topology.yaml` at the repository root links to) and that file's",
        "comment. Unknown keys are errors. Rules that span keys (square SIP counts for the 2D topologies, sizes that",
        "must fit `PhysAddr`, the TCM and SRAM reservations, HBM interleaving, page alignment) are in `_check_whole`",
        "of `kernbench/topology/loader.py`. Regenerate this page with",
        "`python scripts/topology_reference.py --output docs/reference/topology.md`.",
    ]
    for path, cls in section_classes():
        lines += ["", f"## `{path}`" if path else "## The top level", ""]
        if docstring(cls):
            lines += [prose(docstring(cls)), ""]
        lines += ["| key | type | default | bounds | shipped | comment |", "| --- | --- | --- | --- | --- | --- |"]
        for key in (k for k in keys if k.path.rpartition(".")[0] == path):
            name = key.path.rpartition(".")[2]
            title = f"[`{name}`](#{key.path.replace('.', '')})" if key.section else f"`{name}`"
            value = f"`{key.value}`" if key.value else ""
            row = (title, key.type, key.default, key.bounds, value, prose(key.comment))
            lines.append("| " + " | ".join(cell(part) for part in row) + " |")
        if derived(cls):
            lines += ["", "Derived values (properties, not keys):", "", *derived(cls)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, help="write the page here (default: print it)")
    args = parser.parse_args(argv)
    page = render()
    if args.output is None:
        sys.stdout.write(page)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
