"""``kernbench`` entry point: parse the subcommand, turn user errors into one line and exit code 2.

Under ``mpirun`` it installs pdes's abort hook first: an unexpected exception on any rank ends the whole job,
its traceback printed once by the rank that raised it, instead of leaving the other ranks waiting. The command
itself (`cli`) also ends quietly on Ctrl-C and SIGTERM and in one line out of memory (`kernbench.cli.process`);
its exit codes are `kernbench.cli.exit_codes`.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from kernbench.cli import ccl_perf_cmd, exit_codes, output_files, probe_cmd, process, run_cmd, topology_cmd
from kernbench.cli.memory_needs import NotEnoughMemory
from kernbench.cli.output import JobArgumentParser, stdout_is_closed
from kernbench.cli.user_errors import USER_ERRORS
from pdes import install_abort_hook, memory
from pdes.transport import launcher_rank

SUBCOMMANDS = {"topology": topology_cmd, "probe": probe_cmd, "run": run_cmd, "ccl-perf": ccl_perf_cmd}


def build_parser() -> argparse.ArgumentParser:
    parser = JobArgumentParser(prog="kernbench", description="Simulate AI accelerator systems.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in SUBCOMMANDS.items():
        module.add_parser(sub, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    install_abort_hook()
    output_files.watch_fifos(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    finally:
        if launcher_rank() == 0:  # the rank that writes the outputs: a FIFO it did not write gets its end
            output_files.release_fifos()


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    output_files.watch_fifos((), args)
    if stdout_is_closed():
        return exit_codes.USAGE
    try:
        return SUBCOMMANDS[args.command].run(args)
    except USER_ERRORS as exc:
        if launcher_rank() == 0:  # under mpirun every rank raises the same error (agree_on_setup): say it once
            print(f"kernbench: {exc}", file=sys.stderr)
        return exit_codes.OUT_OF_MEMORY if isinstance(exc, NotEnoughMemory) else exit_codes.USAGE
    except BaseException as exc:
        memory.check(exc)  # out of memory: one line and exit 3, not a traceback (after process.setup)
        raise


def cli() -> NoReturn:
    """The ``kernbench`` command: `main` in a process set up to end cleanly however it ends."""
    process.setup()
    sys.exit(main())


if __name__ == "__main__":
    cli()
