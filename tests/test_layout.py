"""The architecture as the code has it: ``pdes`` knows nothing of ``kernbench``; inside ``kernbench`` each layer
imports only the layers below it; nothing outside `kernbench.runtime.context` calls the context's private methods.

A new folder of ``kernbench`` must be placed in `LAYERS` (the test fails until it is), so the order is a decision,
not an accident.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from kernbench.runtime.context import RuntimeContext

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [
    "yaml_input",
    "topology",
    "scenario",
    "components",
    "engine",
    "kernels",
    "ccl",
    "runtime",
    "tp",
    "chakra",
    "cli",
    "benches",
]
"""Bottom to top: a module may import its own layer and those before it (the shipped benches are programs on
top; ``kernbench run`` loads them by path)."""


def imported(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (at any depth, TYPE_CHECKING blocks included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def layer_of(path: Path) -> str:
    parts = path.relative_to(ROOT / "kernbench").parts
    return parts[0] if len(parts) > 1 else path.stem


def test_pdes_knows_nothing_of_kernbench():
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in imported(p) if m.split(".")[0] == "kernbench")
        for p in (ROOT / "pdes").rglob("*.py")
    }
    assert {p: m for p, m in offenders.items() if m} == {}


def test_every_kernbench_folder_has_a_layer():
    folders = {layer_of(p) for p in (ROOT / "kernbench").rglob("*.py")} - {"__init__"}
    assert folders <= set(LAYERS), f"place these in LAYERS: {sorted(folders - set(LAYERS))}"


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_down(layer):
    below = set(LAYERS[: LAYERS.index(layer) + 1])
    wrong = {}
    for path in (ROOT / "kernbench").rglob("*.py"):
        if layer_of(path) != layer:
            continue
        up = sorted(m for m in imported(path) if m.startswith("kernbench.") and m.split(".")[1] not in below)
        if up:
            wrong[str(path.relative_to(ROOT))] = up
    assert wrong == {}


def test_only_the_context_calls_its_private_methods():
    """Tensor, Distributed and benches use the context's public device I/O (`RuntimeContext.run_requests`,
    ``wait``, ``launch_async``, ``read_shards``, ``write_shards``, ``free_tensor``)."""
    private = [
        name
        for name, member in inspect.getmembers(RuntimeContext, inspect.isfunction)
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private, "the context has private helpers (else this test checks nothing)"
    call = re.compile(r"\.(" + "|".join(map(re.escape, private)) + r")\(")
    context = ROOT / "kernbench" / "runtime" / "context.py"
    sources = list((ROOT / "kernbench").rglob("*.py"))  # the shipped benches included
    calls = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sources
        if path != context
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if call.search(line)
    ]
    assert calls == []
