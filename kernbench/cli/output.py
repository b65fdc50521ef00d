"""How the CLI writes: once per mpirun job, and quietly when the reader of stdout goes away.

Under ``mpirun -n 4 kernbench ...`` every rank parses the same command line; argparse would print its usage
error (or ``--help``) four times. `JobArgumentParser` prints only on launcher rank 0 and still exits with the
same code on every rank. ``kernbench probe | head`` closes the pipe while kernbench prints: `stdout_closed` ends
the command as a tool killed by SIGPIPE would, without a BrokenPipeError traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pdes.transport import launcher_rank

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

SIGPIPE_EXIT = 141
"""128 + SIGPIPE: what a shell reports for a writer whose reader went away."""


class JobArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose messages (usage errors, ``--help``) appear once per mpirun job: on rank 0."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if launcher_rank() == 0:
            super()._print_message(message, file)


def stdout_closed() -> int:
    """Stop writing to a stdout whose reader has gone and return the exit code to end with.

    stdout is pointed at /dev/null first: Python flushes it again at exit, which would raise once more.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return SIGPIPE_EXIT


def unwritable(text: str) -> str | None:
    """Why a file cannot be created or overwritten at ``text``, or None when it can."""
    path = Path(text)
    if path.is_dir():
        return "is a directory"
    if not path.parent.is_dir():
        return f"cannot write: directory {str(path.parent)!r} does not exist"
    if not (os.access(path, os.W_OK) if path.exists() else os.access(path.parent, os.W_OK | os.X_OK)):
        return "cannot write: permission denied"
    return None
