"""Which system a subcommand simulates: ``--topology FILE`` with ``--sips N`` and ``--sip-topology KIND`` on top.

The overrides let a user try 1,024 SIPs without editing a copy of the file; the loader applies them before it
validates, so a bad value is refused exactly as it would be in the file. Without ``--topology`` a
``topology.yaml`` in the working directory is used, else the one shipped in the package (so ``kernbench run``
works outside the repository, as the benches and ccl.yaml do).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import get_args

from kernbench.cli.labels import count, spans
from kernbench.engine import Engine
from kernbench.topology import DEFAULT_TOPOLOGY_PATH, Topology, load_topology
from kernbench.topology.schema import SipTopologyName

LOCAL_TOPOLOGY = Path("topology.yaml")


def add_system_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--topology",
        metavar="FILE",
        help="system description (default: ./topology.yaml if there is "
        "one, else the one shipped in kernbench/topology/)",
    )
    p.add_argument("--sips", type=int, metavar="N", help="number of SIPs, instead of the file's system.sip_count")
    kinds = "|".join(get_args(SipTopologyName))
    p.add_argument(
        "--sip-topology",
        metavar=kinds,
        help="links between SIPs, instead of the file's system.topology "
        "(torus_2d and mesh_2d_no_wrap need a square --sips)",
    )


def topology_file(args: argparse.Namespace) -> tuple[str, str]:
    """The topology file to read and where that choice came from: --topology, the working directory, the package."""
    if args.topology is not None:
        return args.topology, "--topology"
    if LOCAL_TOPOLOGY.is_file():
        return str(LOCAL_TOPOLOGY), "the working directory"
    return str(DEFAULT_TOPOLOGY_PATH), "the packaged default"


def topology_input(args: argparse.Namespace) -> dict[str, str]:
    """The topology file as an input that no output may overwrite (`kernbench.cli.output_files`)."""
    path, origin = topology_file(args)
    return {"the --topology file" if origin == "--topology" else f"the topology file ({origin})": path}


def load_system(args: argparse.Namespace) -> Topology:
    """The topology file with the command line's overrides; any problem is a `TopologyError` naming both."""
    return load_topology(topology_file(args)[0], sips=args.sips, sip_topology=args.sip_topology)


def warn_idle_ranks(eng: Engine, topo: Topology) -> None:
    """On rank 0 only, one stderr line when some MPI ranks own no SIP: they would only add synchronisation."""
    if eng.size <= topo.sip_count or eng.rank != 0:
        return
    busy = {eng.rank_of(sip) for sip in range(topo.sip_count)}
    idle = [r for r in range(eng.size) if r not in busy]
    who = f"rank {idle[0]} simulates" if len(idle) == 1 else f"ranks {spans(idle)} simulate"
    print(
        f"kernbench: warning: {count(eng.size, 'rank')} for {count(topo.sip_count, 'SIP')}: {who} nothing",
        file=sys.stderr,
        flush=True,
    )
