"""The exit codes of ``kernbench`` (the table in docs/reference/cli.md): a script can tell a wrong result from a
bad command line, a run that ran out of memory, and a report whose file could not be written.

Under ``mpirun`` the job's code is the same: every rank returns the same one, and a rank that ends early (out of
memory, interrupted) ends the job with its own.
"""

from __future__ import annotations

import signal

from pdes import memory

PASS = 0
FAIL = 1
"""A check failed, a bench raised, a rank ended without reporting."""
USAGE = 2
"""A bad command line or input file: nothing ran."""
OUT_OF_MEMORY = memory.EXIT_CODE
"""The run cannot fit (refused before it starts) or ran out of memory."""
OUTPUT_FAILED = 4
"""The run ended and its report was printed, but an output (a file, or stdout itself) could not be written."""
INTERRUPTED = 128 + signal.SIGINT
"""Ctrl-C (SIGINT)."""
TERMINATED = 128 + signal.SIGTERM
"""SIGTERM (``kill``, ``timeout``, Slurm at the end of a job's time)."""
STDOUT_CLOSED = 128 + signal.SIGPIPE
"""The reader of stdout went away (``kernbench probe | head``), as for a writer killed by SIGPIPE."""
