"""Bench parameters: what a bench declares in ``PARAMS`` and what ``kernbench run --set KEY=VALUE`` changes.

A bench declares ``PARAMS = {"name": (default, "what it is"), ...}`` at module level, a literal dict (``--list``
reads it with `ast`, without importing the bench). The default's type (bool, int, float or str) is the parameter's
type; a number may add its range, ``(default, "what it is", (low, high))`` (inclusive, None for no bound), and is
always finite (``nan`` and ``inf`` are refused). A bench with ``PARAMS`` is called as ``run(torch, **params)``
with every parameter (the defaults overridden by ``--set``); one without is called as ``run(torch)``, as before.
Rules that involve the system or several parameters go in an optional ``check_before_run(params, topo, ccl)`` that
raises ValueError (`check_rules`), checked before the run. Any problem is a `BenchError` (one line, exit 2).
"""

from __future__ import annotations

import ast
import math
from pathlib import Path
from types import ModuleType
from typing import Any

from kernbench.cli.bench_loader import BenchError
from pdes.errors import message_of

TYPES = (bool, int, float, str)
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


Range = tuple[float | None, float | None]
"""A number's (lowest, highest) allowed value, inclusive; None: no bound."""


def declared(name: str, module: ModuleType | None = None, raw: Any = None) -> dict[str, tuple[Any, str]]:
    """The bench's ``PARAMS`` checked: name -> (default, description); {} when it declares none (`ranges` has the
    ranges)."""
    raw = getattr(module, "PARAMS", None) if module is not None else raw
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BenchError(f"bench {name!r}: PARAMS must be a dict of name -> (default, description)")
    out = {}
    for key, value in raw.items():
        if not (
            isinstance(key, str)
            and key.isidentifier()
            and isinstance(value, tuple)
            and len(value) in (2, 3)
            and type(value[0]) in TYPES
            and isinstance(value[1], str)
            and (len(value) == 2 or _valid_range(value[0], value[2]))
        ):
            raise BenchError(
                f"bench {name!r}: PARAMS[{key!r}] must be (default, description) with a bool, int, float or str "
                f"default, or (default, description, (low, high)) for a number within its range, got {value!r}"
            )
        out[key] = value[:2]
    return out


def ranges(module: ModuleType) -> dict[str, Range]:
    """The ranges the bench's (checked) ``PARAMS`` declare, by parameter."""
    return {key: value[2] for key, value in getattr(module, "PARAMS", {}).items() if len(value) == 3}


def _valid_range(default: Any, bounds: Any) -> bool:
    if type(default) not in (int, float) or not (isinstance(bounds, tuple) and len(bounds) == 2):
        return False
    if not all(b is None or (type(b) in (int, float) and math.isfinite(b)) for b in bounds):
        return False
    return _within(default, bounds)


def _within(value: float, bounds: Range) -> bool:
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)


def parse_sets(
    name: str, params: dict[str, tuple[Any, str]], sets: list[str] | None, bounds: dict[str, Range] | None = None
) -> dict[str, Any]:
    """The defaults with every ``KEY=VALUE`` of ``sets`` applied (a later one wins), each parsed as its default's
    type; an unknown key, a missing ``=``, a value of the wrong type, a number that is not finite or outside its
    range (``bounds``) is a `BenchError`."""
    values = {key: default for key, (default, _) in params.items()}
    for item in sets or []:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise BenchError(f"--set {item}: expected KEY=VALUE")
        if key not in params:
            names = ", ".join(params) if params else "none"
            raise BenchError(f"--set {item}: bench {name} has no parameter {key!r}; its parameters: {names}")
        values[key] = parse_value(name, key, params[key][0], text, item)
        value, limits = values[key], (bounds or {}).get(key)
        if limits is not None and not _within(value, limits):
            low, high = limits
            rule = (
                f"{low}..{high}"
                if low is not None and high is not None
                else f">= {low}"
                if high is None
                else f"<= {high}"
            )
            raise BenchError(f"--set {item}: parameter {key!r} of bench {name} must be {rule}, got {text.strip()}")
    return values


def parse_value(bench: str, key: str, default: Any, text: str, item: str) -> Any:
    kind = type(default)
    if kind is str:
        return text
    if kind is bool:
        low = text.strip().lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
    else:
        try:
            value = kind(text.strip())
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return value
            raise BenchError(f"--set {item}: parameter {key!r} of bench {bench} must be a finite number, got {text!r}")
    raise BenchError(
        f"--set {item}: parameter {key!r} of bench {bench} is {_article(kind.__name__)} "
        f"(default {format_value(default)}), got {text!r}"
    )


def _article(type_name: str) -> str:
    return ("an " if type_name[0] in "aeiou" else "a ") + type_name


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value) if value == "" or " " in value else value
    return str(value)


def summary(values: dict[str, Any]) -> str:
    """``layers=2 hidden=1024 ...`` (what --list and the text report show)."""
    return " ".join(f"{key}={format_value(value)}" for key, value in values.items())


def read_declared(path: Path) -> dict[str, tuple[Any, str]]:
    """``PARAMS`` of the bench file at ``path`` without importing it ({} if it has none or it cannot be read)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "PARAMS" for t in targets):
            try:
                return declared(path.stem, raw=ast.literal_eval(value))
            except (ValueError, BenchError):
                return {}
    return {}


def check_rules(name: str, module: ModuleType, params: dict[str, Any], topo: Any, ccl: Any) -> None:
    """A bench's own rules for its parameters, before anything runs: ``check_before_run(params, topo, ccl)`` (optional;
    ``params`` with the defaults filled in, the system's `Topology` and `CclConfig`) raises ValueError naming the
    parameter and its rule, which is a usage error here (`BenchError`: one line, exit 2) rather than a FAIL."""
    rules = getattr(module, "check_before_run", None)
    if rules is None:
        return
    given = {key: params.get(key, default) for key, (default, _) in declared(name, module).items()}
    try:
        rules(given, topo, ccl)
    except BenchError:
        raise
    except ValueError as exc:
        raise BenchError(f"bench {name}: {message_of(exc)}") from None
