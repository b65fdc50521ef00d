"""``ccl.yaml``: which collective algorithm runs, on which IPCQ buffers, and each algorithm's entry.

    defaults:   algorithm, buffer_kind (tcm | hbm | sram), backpressure, n_slots, slot_size,
                ipcq_credit_size_bytes, vc_chunk_size, world_size
    algorithms: NAME: module, topology, mapper, validator, buffer_kind, n_elem, world_size (optional),
                      root_cube (optional), and any default overridden for this algorithm; keys starting
                      ``kernel_`` (and ``root_cube``) go to kernel_args

Keys of the seeds' ccl.yaml files, with what they do here:

- ``backpressure: sleep``: the seeds' name for what ``true`` does (a send sleeps until the peer frees a slot).
- ``vc_chunk_size``: the seeds' PE_DMA virtual-channel chunk size, which their DMA never used ("reserved for future
  precision"); here too it changes nothing: the PE DMA moves each IPCQ piece as one transfer. It is checked
  (an int >= 1) and kept in `AlgorithmConfig.vc_chunk_size`.
- ``root_cube``: the cube whose leader PE exchanges with the other SIPs (intercube); passed to ``kernel_args`` as
  the keyword ``root_cube``, so only modules that take it accept it.
- ``defaults.world_size``: the world size of every entry that does not set its own (the seeds' order: the entry,
  then defaults, then the SIP count).
- An entry without ``mapper`` / ``validator`` takes its module's ``MAPPER`` / ``VALIDATOR`` when it declares one
  (the seeds' intercube entry names neither: its module knows it runs on every cube's PE 0), else
  ``leader_only`` / ``single_shard_per_rank``.

Every problem is a `CclConfigError` naming the file and the field, e.g.
``ccl.yaml: algorithms.ring_tcm.buffer_kind: expected one of tcm, hbm, sram, got 'dram'``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from kernbench.ccl.mappers import resolve_mapper
from kernbench.ccl.resolve import import_module
from kernbench.ccl.topologies import resolve_topology
from kernbench.ccl.validators import resolve_validator
from kernbench.engine import BUFFER_KINDS
from kernbench.engine.ipcq import CREDIT_MIN_BYTES, MAILBOX_BYTES
from kernbench.yaml_input import InputFileError, read_yaml_file, short_repr

DEFAULT_CCL_PATH = Path(__file__).with_name("ccl.yaml")
"""The ccl.yaml used when none is given (``kernbench run --ccl`` overrides it)."""


class CclConfigError(InputFileError):
    """A ccl.yaml that cannot be used; the message names the file and the field (``ccl.yaml: algorithms.x.n_slots:
    ...``) or the line and column of a YAML problem (``ccl.yaml:3:7: ...``)."""


@dataclass(frozen=True)
class AlgorithmConfig:
    """One algorithm entry with the defaults filled in."""

    name: str
    module: str
    topology: str
    mapper: str = "leader_only"
    validator: str = "single_shard_per_rank"
    buffer_kind: str = "tcm"
    backpressure: bool = True
    n_slots: int = 8
    slot_size: int = 65536
    ipcq_credit_size_bytes: int = 16
    n_elem: int = 4096
    world_size: int | None = None
    vc_chunk_size: int | None = None  # accepted from the seeds' files; no effect (see the module docstring)
    kernel_config: dict[str, Any] = field(default_factory=dict)

    def load_module(self) -> ModuleType:
        return import_module(self.module)


Fail = Callable[[str, str], CclConfigError]
_DEFAULT_KEYS = (
    "buffer_kind",
    "backpressure",
    "n_slots",
    "slot_size",
    "ipcq_credit_size_bytes",
    "vc_chunk_size",
    "world_size",
)
_ENTRY_KEYS = ("module", "topology", "mapper", "validator", "n_elem", *_DEFAULT_KEYS)
_KERNEL_KEYS = ("root_cube",)
"""Entry keys that go to ``kernel_args`` as keywords, like ``kernel_*`` ones."""
ALL_TO_ALL = ("pairwise",)
"""``all_to_all_single``'s algorithms (`kernbench.ccl.p2p`): pairwise exchange, step k to rank r + k."""
BACKPRESSURE_SLEEP = "sleep"
"""The seeds' ``backpressure`` mode; the same as ``true``."""


@dataclass(frozen=True)
class CclConfig:
    """A parsed ccl.yaml: the selected algorithm's name and every entry."""

    source: str
    algorithm: str
    algorithms: dict[str, AlgorithmConfig]
    all_to_all: str = "pairwise"

    def selected(self, name: str | None = None) -> AlgorithmConfig:
        """The entry ``name`` (default: ``defaults.algorithm``)."""
        name = self.algorithm if name is None else name
        if name not in self.algorithms:
            raise CclConfigError(
                self.source, "algorithms", f"no algorithm {name!r}; entries: {', '.join(self.algorithms)}"
            )
        return self.algorithms[name]

    def with_algorithm(self, name: str) -> CclConfig:
        self.selected(name)
        return replace(self, algorithm=name)


def load_ccl_config(path: str | os.PathLike[str] | None = None) -> CclConfig:
    """Read and check a ccl.yaml (default `DEFAULT_CCL_PATH`)."""
    path = Path(path) if path is not None else DEFAULT_CCL_PATH
    source = path.name if path == DEFAULT_CCL_PATH else str(path)
    return parse_ccl_config(read_yaml_file(path, source, CclConfigError), source)


def parse_ccl_config(data: Any, source: str = "<dict>") -> CclConfig:
    def fail(where: str, what: str) -> CclConfigError:
        return CclConfigError(source, where, what)

    if not isinstance(data, dict) or set(data) - {"defaults", "algorithms"}:
        raise fail("top level", "expected a mapping with keys defaults and algorithms")
    defaults = data.get("defaults") or {}
    entries = data.get("algorithms") or {}
    if not isinstance(defaults, dict) or not isinstance(entries, dict) or not entries:
        raise fail("algorithms", "expected a non-empty mapping of algorithm entries")
    for key in defaults:
        if key not in ("algorithm", "all_to_all", *_DEFAULT_KEYS):
            raise fail(f"defaults.{key}", f"unknown key; allowed: algorithm, all_to_all, {', '.join(_DEFAULT_KEYS)}")
    all_to_all = defaults.get("all_to_all", "pairwise")
    if all_to_all not in ALL_TO_ALL:
        raise fail("defaults.all_to_all", f"expected one of {', '.join(ALL_TO_ALL)}, got {short_repr(all_to_all)}")
    base = {k: _check(fail, f"defaults.{k}", k, v) for k, v in defaults.items() if k not in ("algorithm", "all_to_all")}
    algorithms = {}
    for name, entry in entries.items():
        where = f"algorithms.{name}"
        if not isinstance(name, str) or not isinstance(entry, dict):
            raise fail(where, "expected a name with a mapping of its fields")
        for key in ("module", "topology"):
            if key not in entry:
                raise fail(f"{where}.{key}", "required key is missing")
        fields, kernel_config = dict(base), {}
        for key, value in entry.items():
            if isinstance(key, str) and key.startswith("kernel_"):
                kernel_config[key] = value
            elif key in _KERNEL_KEYS:
                kernel_config[key] = _check(fail, f"{where}.{key}", key, value)
            elif key in _ENTRY_KEYS:
                fields[key] = _check(fail, f"{where}.{key}", key, value)
            else:
                raise fail(
                    f"{where}.{key}", f"unknown key; allowed: {', '.join(_ENTRY_KEYS + _KERNEL_KEYS)} and kernel_*"
                )
        _check_kernel_keys(fail, where, fields["module"], kernel_config)
        module = import_module(fields["module"])
        for key in ("mapper", "validator"):
            if key not in fields and getattr(module, key.upper(), None) is not None:
                fields[key] = _check(
                    fail, f"{where}.{key} ({fields['module']}.{key.upper()})", key, getattr(module, key.upper())
                )
        algorithms[name] = AlgorithmConfig(name=name, kernel_config=kernel_config, **fields)
    algorithm = defaults.get("algorithm", next(iter(algorithms)))
    if not isinstance(algorithm, str) or algorithm not in algorithms:
        raise fail("defaults.algorithm", f"no algorithm {algorithm!r}; entries: {', '.join(algorithms)}")
    return CclConfig(source, algorithm, algorithms, all_to_all)


def _check(fail: Fail, where: str, key: str, value: Any) -> Any:
    """One field's value, checked (and imported, for module / topology / mapper / validator)."""
    if key == "buffer_kind":
        if value not in BUFFER_KINDS:
            raise fail(where, f"expected one of {', '.join(BUFFER_KINDS)}, got {short_repr(value)}")
    elif key == "backpressure":
        if value == BACKPRESSURE_SLEEP:
            return True
        if not isinstance(value, bool):
            raise fail(where, f"expected true, false or {BACKPRESSURE_SLEEP}, got {short_repr(value)}")
    elif key in (
        "n_slots",
        "slot_size",
        "n_elem",
        "world_size",
        "ipcq_credit_size_bytes",
        "vc_chunk_size",
        "root_cube",
    ):
        low = {"slot_size": 64, "ipcq_credit_size_bytes": CREDIT_MIN_BYTES, "root_cube": 0}.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise fail(where, f"expected int >= {low}, got {short_repr(value)}")
        if key == "slot_size" and value % 64:
            raise fail(where, f"expected a multiple of 64 bytes, got {value}")
        if key == "ipcq_credit_size_bytes" and value > MAILBOX_BYTES:
            raise fail(where, f"expected at most {MAILBOX_BYTES} bytes (the credit mailbox), got {value}")
    elif key == "module":
        try:
            module = import_module(value)
        except ValueError as exc:
            raise fail(where, str(exc)) from None
        missing = [name for name in ("kernel", "kernel_args") if not inspect.isfunction(getattr(module, name, None))]
        if missing:
            raise fail(where, f"{value} has no {' or '.join(missing)} (the algorithm ABI: kernel + kernel_args)")
        positional = [
            p
            for p in inspect.signature(module.kernel_args).parameters.values()
            if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        if len(positional) != 1:
            raise fail(
                where,
                f"{value}.kernel_args must take one positional argument, the request "
                f"(kernbench.ccl.AllReduceRequest), then its ccl.yaml keys as keywords; it takes "
                f"{[p.name for p in positional]}",
            )
    else:
        try:
            {"topology": resolve_topology, "mapper": resolve_mapper, "validator": resolve_validator}[key](value)
        except ValueError as exc:
            raise fail(where, str(exc)) from None
    return value


def _check_kernel_keys(fail: Fail, where: str, module: str, kernel_config: dict[str, Any]) -> None:
    """The entry's ``kernel_*`` keys (and ``root_cube``) go to ``kernel_args`` as keywords: each must be one it
    declares (or it takes ``**config``), so a misspelt key fails here instead of being ignored."""
    params = inspect.signature(import_module(module).kernel_args).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    takes = [name for name in list(params)[1:] if name.startswith("kernel_") or name in _KERNEL_KEYS]
    for key in kernel_config:
        if key not in takes:
            choice = (
                f"it takes {', '.join(takes)}"
                if takes
                else f"it takes no {key}"
                if key in _KERNEL_KEYS
                else "it takes no kernel_* keys"
            )
            raise fail(f"{where}.{key}", f"unknown key for {module}.kernel_args; {choice}")
