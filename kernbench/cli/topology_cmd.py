"""``kernbench topology``: validate a topology file and summarise the system it describes."""

from __future__ import annotations

import argparse
import json

from kernbench.cli.system_args import add_system_args, load_system
from kernbench.cli.user_errors import agree_on_setup
from kernbench.topology import Topology, min_link_latency_ns, sip_links
from pdes.transport import launcher_rank


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="validate a topology file and print what it describes")
    add_system_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON line instead of a table")


def summary(topo: Topology) -> dict:
    """The facts a user checks first: sizes, links, and the parallel engine's lookahead."""
    hbm = topo.cube.hbm_ctrl
    links = sip_links(topo.system)
    return {
        "source": topo.source,
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
    info = agree_on_setup(lambda: summary(load_system(args)))  # under mpirun: all ranks or none
    if launcher_rank() != 0:  # under mpirun every rank validates; one prints
        return 0
    if args.json:
        print(json.dumps(info))
        return 0
    width = max(len(k) for k in info)
    print(f"topology OK: {info['source']}")
    for key, value in info.items():
        if key != "source":
            print(f"  {key:<{width}}  {value}")
    return 0
