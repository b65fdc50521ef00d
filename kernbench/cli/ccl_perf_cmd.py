"""``kernbench ccl-perf``: a collective's time and bandwidth against buffer size, as nccl-tests prints them.

The sweep itself is `kernbench.cli.ccl_perf`; this module wires the options (the system's, ``--ccl``, one or more
``--algorithm``, ``--scenario`` and ``--compare``) and prints one table per algorithm, in nccl-tests' columns and
``# Avg bus bandwidth`` line, or JSON lines. Each algorithm gets a fresh engine (two with ``--compare``: without the
scenario, then with it). Under mpirun every rank simulates its SIPs and knows every row; rank 0 alone prints and
draws.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, BinaryIO, NamedTuple

from kernbench.ccl import CclConfig, load_ccl_config, world_size_of
from kernbench.cli.ccl_args import add_ccl_args, ccl_input, select_algorithm
from kernbench.cli.ccl_perf import DTYPES, OPS, CclPerfError, parse_size, run_sweep, sweep_memory, sweep_sizes
from kernbench.cli.exit_codes import FAIL, PASS
from kernbench.cli.labels import count
from kernbench.cli.memory_needs import require
from kernbench.cli.output import finish
from kernbench.cli.output_files import check_outputs
from kernbench.cli.plots import bandwidth_plot, check_plot
from kernbench.cli.system_args import add_system_args, load_system, topology_input, warn_idle_ranks
from kernbench.cli.user_errors import agree_on_setup, on_first_rank
from kernbench.cli.what_if import add_scenario_args, load_scenario_arg, scenario_input, scenario_line
from kernbench.engine import Engine
from kernbench.runtime.distributed import group_algorithm
from kernbench.scenario import NO_SCENARIO, Scenario, ScenarioError
from kernbench.topology import Topology
from pdes.progress import ProgressLine

JSON_DIGITS = 6
BUS_FACTORS = {
    "all_reduce": "2(n-1)/n",
    "all_gather": "(n-1)/n",
    "reduce_scatter": "(n-1)/n",
    "broadcast": "1",
    "all_to_all": "(n-1)/n",
}
RING = "ring"
"""The curve label of broadcast, all-gather and reduce-scatter: they always run on the process group's leader ring
(all-to-all's is ccl.yaml's ``defaults.all_to_all``)."""


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="sweep a collective over buffer sizes: time, algbw, busbw, #wrong (nccl-tests)")
    p.add_argument(
        "--op",
        choices=tuple(OPS),
        default="all_reduce",
        help="the collective (default all_reduce); all_gather, reduce_scatter and broadcast run on the "
        "ring of SIP leaders, all_reduce on the ccl.yaml algorithm, all_to_all by ccl.yaml's defaults.all_to_all",
    )
    add_system_args(p)
    add_ccl_args(p, repeatable=True)
    p.add_argument("--min-bytes", default="8", metavar="N[K|M|G]", help="smallest size (default 8)")
    p.add_argument("--max-bytes", default="64M", metavar="N[K|M|G]", help="largest size (default 64M)")
    p.add_argument("--factor", type=int, default=2, metavar="F", help="size multiplier per step (default 2)")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="f32", help="element type (default f32)")
    p.add_argument("--root", type=int, default=0, metavar="R", help="broadcast's source rank (default 0)")
    p.add_argument(
        "--group-size",
        type=int,
        metavar="G",
        help="run the op in every group of G consecutive ranks at once (dist.new_subgroups; default: one group of "
        "every rank); a row shows the slowest group, --root is a rank of each group",
    )
    p.add_argument("--json", action="store_true", help="print JSON lines (one per size, then the average busbw)")
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="draw busbw against size, one curve per algorithm, with the inter-SIP link bandwidth (needs matplotlib)",
    )
    add_scenario_args(p, "each size's time and busbw without and with it")


class Setup(NamedTuple):
    topo: Topology
    ccls: list[CclConfig]  # one per algorithm, in command-line order
    sizes: list[int]
    world: int
    scenario: Scenario


def prepare(args: argparse.Namespace) -> Setup:
    """Everything checked before an engine exists; a user error is one line (exit 2)."""
    sizes = sweep_sizes(
        parse_size(args.min_bytes, "--min-bytes"), parse_size(args.max_bytes, "--max-bytes"), args.factor
    )
    if args.algorithm and args.op != "all_reduce":
        where = "ccl.yaml's defaults.all_to_all" if args.op == "all_to_all" else "the ring of SIP leaders"
        raise CclPerfError(
            f"--algorithm picks the all_reduce algorithm; {args.op} always runs on {where} (drop --algorithm)"
        )
    if args.plot is not None:
        check_plot(args.plot)
    topo = load_system(args)
    base = load_ccl_config(args.ccl)
    names = list(dict.fromkeys(args.algorithm or [None]))
    ccls = [select_algorithm(base, name, topo) for name in names]
    world = world_size_of(ccls[0].selected(), topo)
    if args.group_size is not None:
        if not 1 <= args.group_size <= world or world % args.group_size:
            raise CclPerfError(f"--group-size {args.group_size}: expected a divisor of the {world} ranks")
        if args.op == "all_reduce":
            for ccl in ccls:
                group_algorithm(ccl, topo, range(args.group_size))  # an algorithm groups cannot run: one line
        world = args.group_size
    if not 0 <= args.root < world:
        raise CclPerfError(f"--root {args.root}: expected a rank 0..{world - 1}")
    need, what = sweep_memory(args.op, sizes[-1], args.dtype, world)
    require(need, f"--max-bytes {args.max_bytes}: {what}")
    scenario = load_scenario_arg(args, topo)
    if scenario.jobs:
        raise ScenarioError(
            scenario.source, "jobs", "ccl-perf sweeps one collective over every SIP; run jobs with kernbench run"
        )
    return Setup(topo, ccls, sizes, world, scenario)


def run(args: argparse.Namespace) -> int:
    topo, ccls, sizes, world, scenario = agree_on_setup(lambda: prepare(args))  # under mpirun: all ranks or none
    inputs = {**topology_input(args), **ccl_input(args), **scenario_input(args)}
    outputs = on_first_rank(lambda: check_outputs({"--plot": args.plot}, inputs))
    results: dict[str, list[dict[str, Any]]] = {}
    baselines: dict[str, list[dict[str, Any]]] = {}
    for ccl in ccls:
        if args.compare:
            baselines[label(args.op, ccl)] = sweep(args, topo, ccl, sizes, NO_SCENARIO, bool(results))
        results[label(args.op, ccl)] = sweep(args, topo, ccl, sizes, scenario, bool(results or baselines))
    world_sizes = {name: world for name in results}

    def report() -> int:  # every rank has the same rows; one prints and draws
        lines = (
            json_lines(args.op, topo, results, world_sizes, scenario, baselines)
            if args.json
            else text_lines(
                args.op,
                topo,
                results,
                world_sizes,
                scenario,
                baselines,
                topo.sip_count // world if args.group_size else 1,
            )
        )
        plots = [(outputs["--plot"], lambda fh: draw(fh, args, topo, results, world))] if "--plot" in outputs else []
        wrong = any(r["wrong"] for rows in results.values() for r in rows)
        return finish("\n".join(lines), plots, FAIL if wrong else PASS)

    return on_first_rank(report)


def sweep(
    args: argparse.Namespace, topo: Topology, ccl: CclConfig, sizes: list[int], scenario: Scenario, warned: bool
) -> list[dict[str, Any]]:
    """One algorithm's sweep on a fresh engine under ``scenario``; MPI transport when launched by mpirun."""
    eng = Engine(topo, report_requests=False, scenario=scenario)
    if not warned:
        warn_idle_ranks(eng, topo)
    progress = ProgressLine(enabled=False if args.json or eng.rank != 0 else None, unit="ns")
    eng.progress = progress
    try:
        return run_sweep(eng, ccl, args.op, sizes, args.dtype, args.root, args.group_size)
    finally:
        progress.close()


def draw(out: BinaryIO, args: argparse.Namespace, topo: Topology, results: dict[str, list[dict]], world: int) -> None:
    """busbw against size, one curve per algorithm, with the inter-SIP link's bandwidth."""
    bandwidth_plot(
        out,
        {name: [(r["size"], r["busbw_gbs"]) for r in rows] for name, rows in results.items()},
        title=f"kernbench ccl-perf: {args.op}, {args.dtype}, {count(world, 'rank')} "
        f"({topo.system.topology}), busbw = algbw x {BUS_FACTORS[args.op]}",
        ylabel="busbw (GB/s)",
        lines={"inter-SIP link": link_gbs(topo)},
    )


def label(op: str, ccl: CclConfig) -> str:
    if op == "all_to_all":
        return ccl.all_to_all
    return ccl.selected().name if op == "all_reduce" else RING


def link_gbs(topo: Topology) -> float:
    """One direction of one inter-SIP link: the bandwidth a ring's busbw is measured against."""
    return topo.system.inter_sip_link.bandwidth_gbs


def average_busbw(rows: list[dict[str, Any]]) -> float:
    """nccl-tests' ``# Avg bus bandwidth``: the plain mean over the sizes."""
    return sum(r["busbw_gbs"] for r in rows) / len(rows)


# -- JSON lines --------------------------------------------------------------------------------------------------


def _clean(record: dict[str, Any]) -> str:
    return json.dumps({k: round(v, JSON_DIGITS) if isinstance(v, float) else v for k, v in record.items()})


def json_lines(
    op: str,
    topo: Topology,
    results: dict[str, list[dict[str, Any]]],
    world_sizes: dict[str, int],
    scenario: Scenario = NO_SCENARIO,
    baselines: dict[str, list[dict[str, Any]]] | None = None,
) -> list[str]:
    """A ``point`` record per size and an ``avg`` record per algorithm (nothing measured in wall time); under a
    scenario each has its summary, and with ``--compare`` a point also the same size's ``baseline_time_us`` and
    ``baseline_busbw_gbs``."""
    lines = []
    for name, rows in results.items():
        head = {"op": op, "algorithm": name, "world_size": world_sizes[name], "link_gbs": link_gbs(topo)}
        if not scenario.empty:
            head["scenario"] = scenario.summary(topo.system)
        base = (baselines or {}).get(name)
        if base is not None:
            rows = [
                {**r, "baseline_time_us": b["time_us"], "baseline_busbw_gbs": b["busbw_gbs"]}
                for r, b in zip(rows, base, strict=True)
            ]
        lines += [_clean({"type": "point", **head, **r}) for r in rows]
        lines.append(
            _clean(
                {"type": "avg", **head, "avg_busbw_gbs": average_busbw(rows), "wrong": sum(r["wrong"] for r in rows)}
            )
        )
    return lines


# -- text --------------------------------------------------------------------------------------------------------

COLUMNS = ("size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "model", "sim/model")
UNITS = ("(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "")
WIDTHS = (12, 12, 8, 6, 6, 8, 7, 7, 7, 9, 10)


def text_lines(
    op: str,
    topo: Topology,
    results: dict[str, list[dict[str, Any]]],
    world_sizes: dict[str, int],
    scenario: Scenario = NO_SCENARIO,
    baselines: dict[str, list[dict[str, Any]]] | None = None,
    groups: int = 1,
) -> list[str]:
    """nccl-tests' table for each algorithm, headed by what was run and how busbw is computed; under a scenario
    it says so, and with ``--compare`` a table of each size without and with it follows."""
    lines: list[str] = []
    for name, rows in results.items():
        n = world_sizes[name]
        ranks = count(n, "rank") if groups == 1 else f"{groups} groups of {n} consecutive ranks at once"
        lines += [
            f"# kernbench ccl-perf: {op}, algorithm {name}, {ranks} (rank = SIP; {topo.system.topology}), "
            f"inter-SIP link {link_gbs(topo):g} GB/s per direction",
            *([f"# scenario: {scenario_line(scenario, topo)}"] if not scenario.empty else []),
            f"# time: simulated, one call from the barrier's release to the slowest rank's end; "
            f"busbw = algbw x {BUS_FACTORS[op]}",
            "# model: the analytical reference (kernbench.ccl.model; docs/validation.md)",
            "#",
            "#" + _row(COLUMNS)[1:],
            ("#" + _row(UNITS)[1:]).rstrip(),
            *(_row(_cells(r)) for r in rows),
            f"# Out of bounds values : {sum(r['wrong'] for r in rows)} "
            + ("OK" if all(r["wrong"] == 0 for r in rows) else "FAILED"),
            f"# Avg bus bandwidth    : {average_busbw(rows):g}",
            *compare_table((baselines or {}).get(name), rows),
            "#",
        ]
    return lines[:-1]


def compare_table(base: list[dict[str, Any]] | None, rows: list[dict[str, Any]]) -> list[str]:
    """``--compare``: each size's time and busbw without the scenario and with it, and their ratio."""
    if base is None:
        return []
    out = ["#", "# what-if: without the scenario -> with it", f"#{'size':>11} {'time (us)':>21} {'busbw (GB/s)':>19}"]
    for b, r in zip(base, rows, strict=True):
        ratio = r["busbw_gbs"] / b["busbw_gbs"] if b["busbw_gbs"] else float("nan")
        out.append(
            f"{b['size']:>12} {_time(b['time_us']):>9} -> {_time(r['time_us']):>8} "
            f"{b['busbw_gbs']:>7.2f} -> {r['busbw_gbs']:>6.2f}  x{ratio:.3f}"
        )
    return out


def _cells(r: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(r["size"]),
        str(r["count"]),
        r["dtype"],
        r["redop"],
        str(r["root"]),
        _time(r["time_us"]),
        f"{r['algbw_gbs']:.2f}",
        f"{r['busbw_gbs']:.2f}",
        str(r["wrong"]),
        "-" if r["model_us"] is None else _time(r["model_us"]),
        "-" if r["sim_over_model"] is None else f"{r['sim_over_model']:.3f}",
    )


def _time(us: float) -> str:
    """nccl-tests' time format: fewer decimals as the time grows."""
    return f"{us:.0f}" if us >= 10000 else f"{us:.1f}" if us >= 100 else f"{us:.2f}"


def _row(cells: tuple[str, ...]) -> str:
    return "".join(f"{c:>{w}}" for c, w in zip(cells, WIDTHS, strict=True))
