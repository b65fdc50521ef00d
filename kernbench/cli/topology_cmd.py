"""``kernbench topology``: validate a topology file (and the collectives against it) and summarise the system.

It runs the same checks as the start of ``kernbench run`` (`load_system`, `load_collectives`), so what it
accepts, ``run`` accepts; it also says which topology file it read, since without ``--topology`` that depends
on the working directory.
"""

from __future__ import annotations

import argparse
import json

from kernbench.ccl import CclConfig
from kernbench.cli.ccl_args import add_ccl_args, load_collectives
from kernbench.cli.exit_codes import PASS
from kernbench.cli.output import print_report
from kernbench.cli.system_args import add_system_args, load_system, topology_file
from kernbench.cli.user_errors import agree_on_setup
from kernbench.topology import Topology, min_link_latency_ns, sip_links
from pdes.transport import launcher_rank


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="validate a topology file (and ccl.yaml against it) and print what it describes")
    add_system_args(p)
    add_ccl_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON line instead of a table")


def summary(topo: Topology, ccl: CclConfig, origin: str) -> dict:
    """The facts a user checks first: which files, sizes, links, and the parallel engine's lookahead."""
    hbm = topo.cube.hbm_ctrl
    links = sip_links(topo.system)
    return {
        "source": topo.source,
        "topology_from": origin,
        "ccl": ccl.source,
        "algorithm": ccl.algorithm,
        "sips": topo.sip_count,
        "sip_topology": topo.system.topology,
        "inter_sip_links": len(links),
        "lookahead_ns": min_link_latency_ns(topo.system),
        "cube_mesh": f"{topo.sip.cube_mesh.w}x{topo.sip.cube_mesh.h}",
        "pes_per_cube": topo.pes_per_cube,
        "total_pes": topo.total_pes,
        "hbm_gib_per_cube": hbm.capacity_gib,
        "hbm_slice_effective_gbs": hbm.effective_bw_gbs,
    }


def run(args: argparse.Namespace) -> int:
    def setup() -> dict:
        topo = load_system(args)
        return summary(topo, load_collectives(args, topo), topology_file(args)[1])

    info = agree_on_setup(setup)  # under mpirun: all ranks or none
    if launcher_rank() != 0:  # under mpirun every rank validates; one prints
        return PASS
    if args.json:
        return print_report(json.dumps(info)) or PASS
    width = max(len(k) for k in info)
    lines = [f"topology OK: {info['source']} ({info['topology_from']})"]
    lines += [f"  {key:<{width}}  {value}" for key, value in info.items() if key not in ("source", "topology_from")]
    return print_report("\n".join(lines)) or PASS
