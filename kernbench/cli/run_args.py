"""The options of ``kernbench run`` and their checks before anything runs: what to run (``--bench``, ``--list``,
``--chakra``, a scenario's jobs), the system, ``--device``, virtual ranks and the outputs. A user error is a
`BenchError` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import re
from types import ModuleType

from kernbench.cli.bench_loader import BenchError
from kernbench.cli.ccl_args import add_ccl_args
from kernbench.cli.labels import count
from kernbench.cli.memory_needs import require, sips_need
from kernbench.cli.record_args import add_record_args, check_record_options
from kernbench.cli.system_args import add_system_args
from kernbench.cli.what_if import add_scenario_args
from kernbench.topology import Topology
from pdes.partition import PARTITIONS
from pdes.sync import SYNC_MODES
from pdes.transport import launched_by_mpi, launcher_size


def add_run_args(p: argparse.ArgumentParser) -> None:
    """Every option of ``kernbench run``."""
    what = p.add_mutually_exclusive_group()  # one of them, or a --scenario with jobs (run checks)
    what.add_argument(
        "--bench",
        metavar="NAME",
        help="the bench to run: benches/NAME.py (./benches first, then the shipped ones), or a bench file PATH.py",
    )
    what.add_argument("--list", action="store_true", help="list the benches with one-line descriptions")
    what.add_argument(
        "--chakra",
        metavar="PREFIX",
        help="run the Chakra execution traces PREFIX.<rank>.et (ASTRA-sim's input), rank r on SIP r, instead of a "
        "bench; the report: total, compute and exposed communication time and the collectives, per rank",
    )
    p.add_argument(
        "--chakra-replicate",
        action="store_true",
        help="with --chakra: run PREFIX.0.et on every SIP (SPMD: its collectives span every rank, its "
        "point-to-point peers are rank offsets)",
    )
    p.add_argument(
        "--compute-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="with --chakra: multiply the traces' compute and host durations by F (default 1)",
    )
    add_system_args(p)
    add_ccl_args(p)
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="set",
        help="set a parameter of the bench (repeatable; --list shows each bench's parameters)",
    )
    p.add_argument(
        "--device",
        metavar="sip:N|all",
        help="SIP to run the bench on, or all: one copy per SIP at once (default: sip:0; an SPMD bench runs one "
        "rank per SIP and takes no --device)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line (every SIP's result) instead of text")
    p.add_argument(
        "--verify-data",
        action="store_true",
        help="demand a data check: a bench that returns no checks FAILs (data is always computed here; "
        "the earlier kernbench needed this flag to compute it at all)",
    )
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="show every SIP's checks, metrics and phase table; by default only a one-SIP run does, and "
        "a run on more SIPs shows a summary (status counts, latency spread) and each distinct outcome "
        "once with its SIPs (sip0,sip2,sip5-sip9 (7 SIPs))",
    )
    p.add_argument(
        "--benches-dir",
        metavar="DIR",
        help="look for benches in DIR only (default: ./benches, then the shipped kernbench/benches)",
    )
    p.add_argument(
        "--stats-json",
        metavar="PATH",
        help="write the synchronization statistics to PATH: per rank SIPs owned, events, rounds, real "
        "and null messages, seconds computing / blocked in exchanges / in reductions, lambda; per SIP "
        "events and messages (docs/guides/parallel-scaling.md)",
    )
    p.add_argument(
        "--ranks",
        type=int,
        metavar="K",
        help="run K virtual ranks in this one process (without mpirun), the SIPs partitioned as K MPI "
        "ranks would hold them: the same results as one rank",
    )
    p.add_argument(
        "--partition",
        choices=tuple(PARTITIONS),
        default="round_robin",
        help="how SIPs are dealt to ranks: round_robin (sip i on rank i mod K, the default: work that "
        "moves along the SIPs in waves is spread over every rank), blocks (sip0-sipN/K-1 on rank 0, "
        "...) or tiles (rectangles of the SIP grid). Results are the same either way",
    )
    p.add_argument(
        "--sync",
        choices=tuple(SYNC_MODES),
        default="null",
        help="how ranks synchronize (pdes.sync): null (null messages, promises once per round: the "
        "default) or window (synchronous lookahead windows). Results are the same either way",
    )
    p.add_argument(
        "--project",
        action="store_true",
        help="project the wall time of this run on --ranks K ranks on K cores from the per-round busy "
        "time of each virtual rank (docs/adr/0014-projection.md); --json adds projected_wall_s",
    )
    add_record_args(p)
    add_scenario_args(p, "the change in step time, compute and exposed communication of the slowest and median rank")


def check_run_options(args: argparse.Namespace) -> None:
    """--ranks, --project and the recording options: a `BenchError` (one line, exit 2) before anything runs."""
    if args.ranks is not None:
        if args.ranks < 1:
            raise BenchError(f"--ranks {args.ranks}: expected an integer >= 1 (virtual ranks in this process)")
        if launched_by_mpi():
            raise BenchError(
                f"--ranks {args.ranks} runs virtual ranks in one process; under mpirun the ranks "
                "are the processes (mpirun -n K), drop --ranks"
            )
    if args.project and launched_by_mpi():
        raise BenchError(
            "--project projects a run of virtual ranks (--ranks K) in one process; under mpirun the "
            "wall time is measured, drop --project"
        )
    check_record_options(args)


def check_size(args: argparse.Namespace, topo: Topology, sips: list[int]) -> None:
    """--ranks at most one per SIP (more only add empty ranks: thousands of them took minutes and gigabytes), and
    the SIPs that run code in this process within the memory it can have (`kernbench.cli.memory_needs`)."""
    if args.ranks is not None and args.ranks > topo.sip_count:
        raise BenchError(
            f"--ranks {args.ranks}: at most {topo.sip_count}, one virtual rank per SIP ({topo.source} has "
            f"{count(topo.sip_count, 'SIP')})"
        )
    here = -(-len(sips) // launcher_size())  # the most any rank simulates
    system = f"--sips {args.sips}" if args.sips is not None else f"{topo.source}"
    require(
        sips_need(here),
        f"{system}: {count(here, 'SIP')} running code in this process (docs/guides/big-systems.md, Sizing a job)",
    )


# -- devices -----------------------------------------------------------------------------------------------------

_DEVICE = re.compile(r"sip:?(\d+)")  # sip:N, or sipN as the earlier kernbench took it


def parse_device(text: str) -> int | None:
    """``sip:N`` or ``sipN`` -> N, ``all`` -> None (every SIP); anything else is a `BenchError`."""
    if text == "all":
        return None
    match = _DEVICE.fullmatch(text)
    if match is None:
        raise BenchError(f"--device {text}: expected sip:N (e.g. sip:0, or sip0) or all")
    return int(match.group(1))


def device_label(args: argparse.Namespace, module: ModuleType) -> str:
    """What the report's ``device`` line says ran the bench."""
    return "every SIP (SPMD, rank = SIP)" if getattr(module, "SPMD", False) else args.device or "sip:0"


def device_sips(device: int | None, topo: Topology) -> list[int]:
    """The SIPs to run on; a SIP the topology does not have is a `BenchError`."""
    if device is None:
        return list(range(topo.sip_count))
    if device >= topo.sip_count:
        raise BenchError(
            f"--device sip:{device}: {topo.source} has {topo.sip_count} SIPs (sip:0..sip:{topo.sip_count - 1})"
        )
    return [device]
