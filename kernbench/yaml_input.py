"""Read a user's YAML file (``topology.yaml``, ``ccl.yaml``) safely: every problem is one line naming the file.

Both files are hand-edited inputs of a command line tool, so whatever they contain must end in a message, never
in a traceback, a hang or a huge allocation:

- only regular files are opened (a FIFO would block, ``/dev/zero`` would never end), and at most
  `MAX_INPUT_BYTES` are read;
- the text must be UTF-8;
- duplicate keys are refused (plain PyYAML silently keeps the last one);
- nesting deeper than `MAX_DEPTH` is refused (PyYAML composes recursively: 20,000 ``[`` hit RecursionError);
- values Python cannot build (a 5,000-digit integer, the 30th of February) are errors at their line and column.

Errors are `InputFileError` subclasses chosen by the caller (`TopologyError`, `CclConfigError`), so each command
catches one type per file and prints ``source:line:col: problem`` or ``source: where: problem``.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

MAX_INPUT_BYTES = 16 << 20
"""The largest input file read: a real topology or ccl.yaml is a few KiB."""
MAX_DEPTH = 64
"""Deepest nesting of YAML collections accepted; the schemas need 4."""


class InputFileError(ValueError):
    """An input file that cannot be used; the message starts with the source and the place in it.

    ``where`` is a dotted YAML path such as ``sip.cube_mesh.w`` for problems with values (``sep`` ": "), or
    ``line:column`` for problems with the text (``sep`` ":", so the message reads ``file.yaml:3:7: ...``).
    """

    def __init__(self, source: str, where: str, problem: str, *, sep: str = ": ") -> None:
        self.source = source
        self.where = where
        self.problem = problem
        super().__init__(f"{source}{sep}{where}: {problem}" if where else f"{source}: {problem}")


class _LimitError(yaml.MarkedYAMLError):
    """Valid YAML this reader refuses (a duplicate key, too deep); not reported as a syntax error."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) that refuses duplicate keys and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(
                    problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: let PyYAML report it
            continue
        if duplicate:
            raise _LimitError(problem=f"duplicate key {short_repr(key)}", problem_mark=key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # Python refuses to convert very long digit strings
        raise ConstructorError(
            problem=f"integer of {len(node.value)} characters: at most {sys.get_int_max_str_digits()} digits",
            problem_mark=node.start_mark,
        ) from None


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:  # 2001-02-30
        raise ConstructorError(problem=f"{node.value!r} is not a date: {exc}", problem_mark=node.start_mark) from None


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message quoting a value stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


def _read_text(path: Path, source: str, error: type[InputFileError]) -> str:
    try:
        mode = os.stat(path).st_mode  # before opening: opening a FIFO blocks until someone writes to it
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS.items() if test(mode)), "not a plain file")
            raise error(source, "", f"cannot read: {kind}, expected a regular file")
        with open(path, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise error(source, "", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise error(source, "", f"cannot read: larger than {MAX_INPUT_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            source, "", f"cannot read: not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})"
        ) from None


def parse_yaml(text: str, source: str, error: type[InputFileError]) -> Any:
    """YAML text -> plain data; a problem is ``error(source, "line:col", problem)``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if not isinstance(exc, (_LimitError, ConstructorError)):
            problem = f"YAML syntax error: {problem}"
        if mark is None:
            raise error(source, "(yaml)", problem) from None
        raise error(source, f"{mark.line + 1}:{mark.column + 1}", problem, sep=":") from None
    except yaml.reader.ReaderError as exc:  # a control character
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise error(
            source,
            f"{line}:{column}",
            f"YAML syntax error: unacceptable character #x{exc.character:04x}: {exc.reason}",
            sep=":",
        ) from None
    except yaml.YAMLError as exc:
        raise error(source, "(yaml)", "YAML error: " + " ".join(str(exc).split())) from None


def read_yaml_file(path: str | os.PathLike[str], source: str, error: type[InputFileError]) -> Any:
    """Read and parse the YAML file ``path``; ``source`` starts every message, ``error`` is the type raised."""
    return parse_yaml(_read_text(Path(path), source, error), source, error)
