"""Every fenced code block of every Markdown page (README, docs/, examples/) is checked, so the docs
cannot drift.

The line right before a block's opening fence says what to do with it (a block without one fails the test):

- ``<!-- docs: run -->``: a ``python`` block is executed (the blocks of one file share a namespace, in order, like
  doctest); a ``bash`` block's lines are commands, each ``kernbench ...`` (run in this process, through
  `kernbench.cli.main.main`; in a subprocess after ``VAR=value`` settings, which may be read at import) or
  ``python ...`` (a subprocess), optionally after ``VAR=value`` settings and with
  a ``# comment`` after them, and ``> FILE`` at the end; each must exit 0. Paths under ``/tmp/`` go to a private
  temporary directory.
- ``<!-- docs: output -->``: what the run block before it printed (stdout), compared as doctest does with
  ELLIPSIS and NORMALIZE_WHITESPACE: ``...`` stands for anything (wall-clock figures, lines left out), and runs of
  spaces or newlines compare equal; a ``/tmp/`` path in it stands for the private one the command was given.
- ``<!-- docs: output of COMMAND -->``: the same comparison with what ``COMMAND`` prints; it may also precede a
  Markdown table (which ends at the first blank line).
- ``<!-- docs: file PATH -->``: the block is written to ``PATH`` (a bench a later run block runs), in order.
- ``<!-- docs: paths exist -->``: each line's first word is a path of the repository.
- ``<!-- docs: not run: REASON -->``: skipped, with the reason (``pytest -rs`` lists them); for what only
  mpirun, Slurm or a minutes-long sweep can show, the reason names the test or script that checks it.
"""

from __future__ import annotations

import atexit
import contextlib
import doctest
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from kernbench.cli.main import main as kernbench_main

ROOT = Path(__file__).resolve().parents[1]
FILES = tuple(
    sorted(
        str(p.relative_to(ROOT))
        for p in [
            *ROOT.glob("*.md"),
            *ROOT.glob("examples/*.md"),
            *ROOT.glob("docs/**/*.md"),
        ]
    )
)
"""Every Markdown page of the repository: the README, the docs site's pages, the benches' and examples' guides."""
MARKER = re.compile(
    r"^<!-- docs: (run|output|output of (?P<command>.+?)|file (?P<path>\S+)|paths exist|not run: (?P<reason>.+?)) -->$"
)
FENCE = re.compile(r"^```(\w*)\s*$")
_TMP = Path(tempfile.mkdtemp(prefix="kernbench-docs-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # of the opening fence (or of a table's first row)
    lang: str
    text: str
    marker: str | None  # the marker's body: "run", "output", "output of ...", "paths exist", "not run: ..."

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def blocks(file: str) -> list[Block]:
    """The fenced blocks of ``file``, and the Markdown tables that an ``output of`` marker precedes."""
    lines = (ROOT / file).read_text(encoding="utf-8").split("\n")
    out: list[Block] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        previous = lines[i - 1] if i else ""
        marker = MARKER.match(previous)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            out.append(
                Block(
                    file,
                    i + 1,
                    fence.group(1),
                    "\n".join(lines[i + 1 : end]) + "\n",
                    marker.group(1) if marker else None,
                )
            )
            i = end + 1
        elif lines[i].startswith("|") and marker and marker.group("command"):
            end = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
            out.append(Block(file, i + 1, "table", "\n".join(lines[i:end]) + "\n", marker.group(1)))
            i = end
        else:
            i += 1
    return out


ALL = [b for f in FILES for b in blocks(f)]


def test_every_code_block_says_how_it_is_checked():
    unmarked = [str(b) for b in ALL if b.marker is None]
    assert not unmarked, f"blocks without a <!-- docs: ... --> line before them: {unmarked}"
    for b in ALL:
        if b.marker == "output":
            before = ALL[ALL.index(b) - 1]
            assert (before.file, before.marker) == (b.file, "run"), f"{b}: an output block must follow a run block"
        if b.marker.startswith("not run: "):  # the test a reason names must exist
            for path in re.findall(r"tests/[\w/]+\.py", b.marker):
                assert (ROOT / path).is_file(), f"{b}: the reason names {path}, which does not exist"


def _private(text: str) -> str:
    return text.replace("/tmp/", f"{_TMP}/")


def _command(line: str) -> str:
    """Run one shell line of a bash block; return what it printed on stdout (nothing when sent to a file)."""
    words = shlex.split(_private(line), comments=True)
    target = None
    if len(words) > 2 and words[-2] == ">":
        target, words = words[-1], words[:-2]
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if not words:
        return ""
    if words[0] == "kernbench" and env:  # settings may be read at import: a fresh process
        words = ["python", "-m", "kernbench.cli.main", *words[1:]]
    printed = _kernbench(words[1:], line) if words[0] == "kernbench" else _python(words, env, line)
    if target is None:
        return printed
    if target != "/dev/null":
        Path(target).write_text(printed, encoding="utf-8")
    return ""


def _kernbench(argv: list[str], line: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.chdir(ROOT):
        code = kernbench_main(argv)
    assert code == 0, f"{line!r} exited {code}:\n{out.getvalue()}"
    return out.getvalue()


def _python(words: list[str], env: dict[str, str], line: str) -> str:
    assert words[0] == "python", f"{line!r}: a run block holds kernbench or python commands"
    proc = subprocess.run(
        [sys.executable, *words[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )
    assert proc.returncode == 0, f"{line!r} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


@cache
def run_outputs(file: str) -> dict[int, str]:
    """Run the ``run`` blocks of ``file`` in order (python blocks share one namespace): fence line -> stdout."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    printed: dict[int, str] = {}
    for b in blocks(file):
        if (b.marker or "").startswith("file "):
            path = Path(_private(b.marker.removeprefix("file ")))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(b.text, encoding="utf-8")
        if b.marker != "run":
            continue
        if b.lang == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.chdir(ROOT):
                exec(compile(b.text, str(b), "exec"), namespace)
            printed[b.line] = out.getvalue()
        else:
            assert b.lang == "bash", f"{b}: run blocks are python or bash"
            printed[b.line] = "".join(_command(line) for line in b.text.splitlines())
    return printed


def _assert_shows(block: Block, actual: str) -> None:
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    shown = _private(block.text)  # a /tmp/ path the command was given, as it prints it
    if not checker.check_output(shown, actual, flags):
        diff = checker.output_difference(doctest.Example("", shown), actual, flags)
        pytest.fail(f"{block} does not match what the command prints (copy the real output):\n{diff}")


@pytest.mark.parametrize("block", ALL, ids=str)
def test_block(block: Block):
    marker = block.marker or ""
    if marker.startswith("not run: "):
        pytest.skip(f"{block}: {marker.removeprefix('not run: ')}")
    if marker == "run" or marker.startswith("file "):
        run_outputs(block.file)  # runs every run block of the file once, in order
    elif marker == "output":
        before = ALL[ALL.index(block) - 1]
        _assert_shows(block, run_outputs(block.file)[before.line])
    elif marker.startswith("output of "):
        _assert_shows(block, _command(marker.removeprefix("output of ")))
    elif marker == "paths exist":
        missing = [
            line.split()[0]
            for line in block.text.splitlines()
            if line.strip() and not line.startswith(" ") and not (ROOT / line.split()[0]).exists()
        ]
        assert not missing, f"{block}: no such paths: {missing}"
    else:
        pytest.fail(f"{block}: no <!-- docs: ... --> line before it")
