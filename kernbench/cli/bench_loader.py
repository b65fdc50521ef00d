"""Find, describe and import bench modules (``benches/NAME.py``) for ``kernbench run``.

Benches are plain files loaded by path: ``./benches`` in the current directory is searched first (a user's own
benches), then the benches that ship inside the package (``kernbench/benches``), so an installed kernbench has
them too. ``--list`` reads each module's docstring with `ast`, without importing it, so a broken bench cannot break
the listing.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from pdes import memory
from pdes.errors import message_of

BENCH_DIR_NAME = "benches"
SHIPPED = Path(__file__).resolve().parents[1] / BENCH_DIR_NAME
"""The benches that ship with the package."""
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class BenchError(ValueError):
    """A bench that cannot be found or loaded, or a bad ``--device``: one line for the user, exit code 2."""


def bench_dirs(benches_dir: str | Path | None = None) -> list[Path]:
    """Directories to search, in priority order: ``benches_dir`` alone if given, else ``./benches`` then the
    shipped ones."""
    if benches_dir is not None:
        path = Path(benches_dir)
        if not path.is_dir():
            raise BenchError(f"--benches-dir {benches_dir}: not a directory")
        return [path.resolve()]
    dirs: list[Path] = []
    for path in (Path.cwd() / BENCH_DIR_NAME, SHIPPED):
        if path.is_dir() and path.resolve() not in dirs:
            dirs.append(path.resolve())
    return dirs


def available(dirs: list[Path]) -> dict[str, Path]:
    """Bench name -> file, sorted by name; a name in an earlier directory hides the same name in a later one.

    Files whose names start with ``_`` (shared helpers) are not benches.
    """
    found: dict[str, Path] = {}
    for directory in dirs:
        for path in sorted(directory.glob("*.py")):
            if _NAME.fullmatch(path.stem):
                found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def describe(path: Path) -> str:
    """The first line of the module docstring (what ``--list`` shows), or a note when there is none."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    except (OSError, SyntaxError, ValueError) as exc:
        return f"(cannot read: {type(exc).__name__}: {exc})"
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else "(no description)"


def find(name: str, dirs: list[Path]) -> Path:
    """The file of bench ``name``, or the file ``name`` names when it ends in ``.py`` (a bench kept anywhere); an
    unknown name is a `BenchError` listing the benches there are."""
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise BenchError(f"--bench {name}: no such file")
        return path.resolve()
    benches = available(dirs)
    if _NAME.fullmatch(name) and name in benches:
        return benches[name]
    where = ", ".join(str(d) for d in dirs) or f"no {BENCH_DIR_NAME}/ directory found"
    names = ", ".join(benches) or "none"
    raise BenchError(f"unknown bench {name!r} (searched {where}); available: {names}")


def load(name: str, path: Path) -> ModuleType:
    """Import ``path`` as module ``kernbench_benches.<file name>``; it must define a callable ``run(torch)``."""
    module_name = f"kernbench_benches.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BenchError(f"bench {name!r}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        memory.check(exc)
        sys.modules.pop(module_name, None)
        raise BenchError(f"bench {name!r}: importing {path} failed: {type(exc).__name__}: {message_of(exc)}") from exc
    if not callable(getattr(module, "run", None)):
        raise BenchError(f"bench {name!r}: {path} defines no run(torch) function")
    return module
