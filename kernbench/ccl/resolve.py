"""Names in ccl.yaml -> code: algorithm modules by import name; topologies, mappers and validators by registry key
or dotted path ``package.module.function``.

ccl.yaml is user input, so a name is checked before anything is called: a relative or empty module name is refused
(importlib would raise TypeError / ValueError), and a dotted path must name a Python function whose signature takes
the arguments it will be called with. That refuses builtins such as ``builtins.len`` (a TypeError deep in the
install plan) or ``builtins.print`` (which would print every rank's arguments and return None).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from kernbench.yaml_input import short_repr
from pdes.errors import message_of

_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def import_module(name: Any) -> ModuleType:
    """The module ``name`` (absolute, dotted); ValueError saying why when it cannot be imported."""
    if not isinstance(name, str) or not _MODULE_NAME.fullmatch(name):
        raise ValueError(f"expected an absolute module name such as package.module, got {name!r}")
    try:
        return importlib.import_module(name)
    except Exception as exc:  # whatever the module raises while importing is a problem of this name
        raise ValueError(f"cannot import {name!r} ({type(exc).__name__}: {message_of(exc)})") from None


def resolve(key: Any, registry: dict[str, Callable], what: str, params: Sequence[str]) -> Callable:
    """A registry entry by key, or a function by dotted import path that can be called as ``fn(*params)``."""
    if isinstance(key, str) and key in registry:
        return registry[key]
    if not isinstance(key, str) or "." not in key:
        raise ValueError(f"unknown {what} {key!r}: use one of {', '.join(sorted(registry))} or a dotted import path")
    module, _, name = key.rpartition(".")
    try:
        fn = getattr(import_module(module), name)
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{what} {key!r}: cannot import it ({exc})") from None
    check_function(fn, f"{what} {key!r}", params)
    return fn


def check_function(fn: Any, what: str, params: Sequence[str]) -> None:
    """ValueError unless ``fn`` is a Python function that accepts ``params`` (positionally)."""
    wanted = f"fn({', '.join(params)})"
    if not inspect.isfunction(fn):
        raise ValueError(f"{what}: expected a Python function {wanted}, got {short_repr(fn)}")
    signature = inspect.signature(fn)
    try:
        signature.bind(*params)
    except TypeError:
        raise ValueError(f"{what}: expected a function {wanted}, it takes {signature}") from None
