"""``kernbench`` entry point: parse the subcommand, turn user errors into one line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from kernbench.cli import topology_cmd
from kernbench.topology import TopologyError

SUBCOMMANDS = {"topology": topology_cmd}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kernbench", description="Simulate AI accelerator systems.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in SUBCOMMANDS.items():
        module.add_parser(sub, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return SUBCOMMANDS[args.command].run(args)
    except TopologyError as exc:
        print(f"kernbench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
