"""``kernbench`` entry point: parse the subcommand, turn user errors into one line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from kernbench.ccl import CclConfigError
from kernbench.cli import probe_cmd, run_cmd, topology_cmd
from kernbench.cli.bench_loader import BenchError
from kernbench.cli.output import JobArgumentParser, stdout_closed
from kernbench.cli.probe_cases import ProbeError
from kernbench.topology import TopologyError
from pdes.transport import launcher_rank

SUBCOMMANDS = {"topology": topology_cmd, "probe": probe_cmd, "run": run_cmd}
USER_ERRORS = (TopologyError, CclConfigError, ProbeError, BenchError)
"""Errors that are the user's (a bad file, an impossible request): one line on stderr and exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = JobArgumentParser(prog="kernbench", description="Simulate AI accelerator systems.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in SUBCOMMANDS.items():
        module.add_parser(sub, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = SUBCOMMANDS[args.command].run(args)
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at exit
        return code
    except USER_ERRORS as exc:
        if launcher_rank() == 0:  # under mpirun every rank finds the same error: say it once
            print(f"kernbench: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # kernbench probe | head
        return stdout_closed()


if __name__ == "__main__":
    sys.exit(main())
