"""How the CLI writes: once per mpirun job, and in one line when stdout cannot take the report.

Under ``mpirun -n 4 kernbench ...`` every rank parses the same command line; argparse would print its usage
error (or ``--help``) four times. `JobArgumentParser` prints only on launcher rank 0 and still exits with the
same code on every rank. Reports go out through `print_report`: ``kernbench probe | head`` closes the pipe while
kernbench prints, and the command ends as a tool killed by SIGPIPE would, without a BrokenPipeError traceback; a
full or failing stdout (``> /dev/full``) is one line on stderr and exit code 4. A stdout closed from the start
(``>&-``) is refused before anything runs (`stdout_is_closed`).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from kernbench.cli import exit_codes
from kernbench.cli.output_files import Output, Writer, write_all
from pdes.transport import launched_by_mpi, launcher_rank

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


class JobArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose messages (usage errors, ``--help``) appear once per mpirun job: on rank 0.

    A misspelt option is named as such, with the nearest real one: argparse checks required options before it
    looks at unknown ones, so ``run --bnch x`` would otherwise say that ``--bench`` is missing."""

    _args: list[str]

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._args = list(sys.argv[1:] if args is None else args)
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None:  # a subcommand's parser: it knows what its options are
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        unknown = self._unknown_options()
        if unknown and not message.startswith("unrecognized arguments"):
            message = f"unrecognized arguments: {' '.join(unknown)}"
        super().error(message + self._did_you_mean(unknown))

    def _unknown_options(self) -> list[str]:
        known = list(self._option_string_actions)
        words = [a.split("=", 1)[0] for a in getattr(self, "_args", []) if a.startswith("-") and a != "--"]
        return [
            w
            for w in words
            if not NEGATIVE_NUMBER.match(w) and w not in known and not any(k.startswith(w) for k in known)
        ]

    def _did_you_mean(self, unknown: list[str]) -> str:
        options = [k for k in self._option_string_actions if k.startswith("--")]
        hints = [(word, difflib.get_close_matches(word, options, 1)) for word in unknown]
        named = [f"{close[0]} for {word}" if len(unknown) > 1 else close[0] for word, close in hints if close]
        return f" (did you mean {', '.join(named)}?)" if named else ""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if launcher_rank() == 0:
            super()._print_message(message, file)


NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def print_report(text: str) -> int | None:
    """Print ``text`` (and a newline) on stdout now; None when it went out, else the exit code to end with, having
    said why on stderr (nothing for a reader that went away)."""
    if sys.stdout is None:
        return _cannot_print("stdout is closed")
    try:
        print(text, flush=True)
    except BrokenPipeError:  # kernbench probe | head
        _discard_stdout()
        return exit_codes.STDOUT_CLOSED
    except OSError as exc:
        _discard_stdout()
        return _cannot_print(f"{exc.strerror or exc} (errno {exc.errno})")
    return None


def stdout_is_closed() -> bool:
    """Whether this process was started with its stdout closed (``>&-``), which it then says in one line: the
    report would be lost, so nothing runs. (Under mpirun the launcher gives every rank a pipe.)"""
    if sys.stdout is not None or launched_by_mpi():
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)  # the lowest free descriptor: 1, so no file opened later gets it
    if devnull != 1:
        os.close(devnull)
    print("kernbench: stdout is closed: the report would be lost (redirect it, e.g. > /dev/null)", file=sys.stderr)
    return True


def _cannot_print(reason: str) -> int:
    print(f"kernbench: cannot print the report on stdout: {reason}", file=sys.stderr, flush=True)
    return exit_codes.OUTPUT_FAILED


def _discard_stdout() -> None:
    """Point stdout at /dev/null: Python flushes it again at exit, which would fail once more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def finish(report: str, outputs: Sequence[tuple[Output, Writer]], code: int) -> int:
    """The end of a command on the process that reports: write the output files, print the report, then one line
    on stderr per output that failed. Returns ``code`` (the result's), or `exit_codes.OUTPUT_FAILED` when a file
    could not be written (the report is printed all the same) or an exit code of `print_report`'s."""
    failures = write_all(outputs)
    printed = print_report(report)
    for line in failures:
        print(f"kernbench: {line}", file=sys.stderr, flush=True)
    if printed is not None:
        return printed
    return exit_codes.OUTPUT_FAILED if failures else code
