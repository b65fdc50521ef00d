"""``kernbench`` entry point: parse the subcommand, turn user errors into one line and exit code 2.

Under ``mpirun`` it installs pdes's abort hook first: an unexpected exception on any rank ends the whole job,
its traceback printed once by the rank that raised it, instead of leaving the other ranks waiting.
"""

from __future__ import annotations

import argparse
import sys

from kernbench.cli import ccl_perf_cmd, probe_cmd, run_cmd, topology_cmd
from kernbench.cli.output import JobArgumentParser, stdout_closed
from kernbench.cli.user_errors import USER_ERRORS
from pdes import install_abort_hook
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
    args = build_parser().parse_args(argv)
    try:
        code = SUBCOMMANDS[args.command].run(args)
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at exit
        return code
    except USER_ERRORS as exc:
        if launcher_rank() == 0:  # under mpirun every rank raises the same error (agree_on_setup): say it once
            print(f"kernbench: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # kernbench probe | head
        return stdout_closed()


if __name__ == "__main__":
    sys.exit(main())
