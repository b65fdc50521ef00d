"""Which collectives a subcommand uses: ``--ccl FILE`` and ``--algorithm NAME``, checked against the topology.

`load_collectives` is the one validation pass over what spans both files (the selected algorithm's receive rings
must fit the ring regions of the topology's memories, its world size its SIP count, ...): ``kernbench topology``
and ``kernbench run`` both call it, so a pair of files that ``topology`` accepts does not fail when ``run``
starts, and every problem names the file and key it comes from.
"""

from __future__ import annotations

import argparse

from kernbench.ccl import DEFAULT_CCL_PATH, CclConfig, CclConfigError, load_ccl_config
from kernbench.runtime.distributed import process_group_plans
from kernbench.topology import Topology


def add_ccl_args(p: argparse.ArgumentParser, *, repeatable: bool = False) -> None:
    p.add_argument(
        "--ccl",
        metavar="FILE",
        help=f"collective algorithms (default: {DEFAULT_CCL_PATH.name} shipped in kernbench/ccl/)",
    )
    p.add_argument(
        "--algorithm",
        metavar="NAME",
        action="append" if repeatable else "store",
        help="the ccl.yaml algorithm all_reduce runs (default: its defaults.algorithm)"
        + ("; repeat it to compare algorithms" if repeatable else ""),
    )


def ccl_input(args: argparse.Namespace) -> dict[str, str]:
    """The ccl.yaml read, as an input that no output may overwrite (`kernbench.cli.output_files`)."""
    return {"the --ccl file" if args.ccl is not None else "the ccl.yaml file": str(args.ccl or DEFAULT_CCL_PATH)}


def load_collectives(args: argparse.Namespace, topo: Topology) -> CclConfig:
    """The ccl.yaml with ``--algorithm`` selected, its install plans checked against ``topo``."""
    return select_algorithm(load_ccl_config(args.ccl), args.algorithm, topo)


def select_algorithm(ccl: CclConfig, name: str | None, topo: Topology) -> CclConfig:
    """``ccl`` with algorithm ``name`` selected (None: its default), its install plans checked against ``topo``."""
    if name is not None:
        if name not in ccl.algorithms:
            raise CclConfigError(
                f"--algorithm {name!r}", "", f"not an algorithm of {ccl.source}; entries: {', '.join(ccl.algorithms)}"
            )
        ccl = ccl.with_algorithm(name)
    process_group_plans(ccl, topo)  # a plan that cannot be built is a config error before anything runs
    return ccl
