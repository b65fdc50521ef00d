"""``kernbench run --chakra PREFIX``: run a Chakra execution trace set (ASTRA-sim's input) on the simulated system.

Rank r's ``PREFIX.r.et`` runs on SIP r (``--chakra-replicate``: ``PREFIX.0.et`` on every SIP of ``--sips N``), with
the system's own collectives and kernels (`kernbench.chakra`). Everything that can be wrong with the traces is found
before the engine exists, as a `BenchError`: one line naming the file and the node, exit 2. The run itself is one
``spawn`` of a feeder per rank; the report is ASTRA-sim's breakdown (`kernbench.chakra.report`). The options a run
shares with benches (``--json``, ``--ranks``, ``--partition``, ``--sync``, ``--trace``, ``--hw-stats``,
``--stats-json``, ``--project``) mean what they mean there.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, NamedTuple

from kernbench.ccl import CclConfig, world_size_of
from kernbench.chakra import ChakraError, Feeder, Workload, load_workload
from kernbench.chakra.report import make_report
from kernbench.cli import exit_codes, process
from kernbench.cli.bench_loader import BenchError
from kernbench.cli.bench_run import run_engine, run_stats
from kernbench.cli.ccl_args import ccl_input, load_collectives
from kernbench.cli.labels import count
from kernbench.cli.output import finish
from kernbench.cli.output_files import check_outputs, text_writer
from kernbench.cli.record_args import recorded_outputs, recording_of
from kernbench.cli.run_args import check_run_options, check_size
from kernbench.cli.run_report import hw_lines, json_line, projection_line, stats_file_text, sync_line
from kernbench.cli.system_args import load_system, topology_input
from kernbench.cli.user_errors import agree_on_setup, on_first_rank
from kernbench.engine import Engine
from kernbench.engine.recorder import Recording
from kernbench.runtime import RuntimeContext
from kernbench.runtime.distributed import group_algorithm
from kernbench.runtime.groups import GroupError, GroupTable
from kernbench.topology import Topology
from pdes.progress import ProgressLine


class Setup(NamedTuple):
    topo: Topology
    ccl: CclConfig
    workload: Workload
    recording: Recording | None
    inputs: dict[str, str]


def check_options(args: argparse.Namespace) -> None:
    """The bench options that mean nothing for a trace, and the Chakra options without ``--chakra``."""
    if args.chakra is None:
        for flag, given in (
            ("--chakra-replicate", args.chakra_replicate),
            ("--compute-scale", args.compute_scale != 1),
        ):
            if given:
                raise BenchError(f"{flag} needs --chakra PREFIX")
        return
    for flag, given in (
        ("--set", args.set),
        ("--device", args.device is not None),
        ("--verify-data", args.verify_data),
        ("--benches-dir", args.benches_dir),
    ):
        if given:
            raise BenchError(f"{flag} is a bench option; --chakra runs rank r of the traces on SIP r (drop {flag})")
    for flag, given in (("--scenario", args.scenario is not None), ("--compare", args.compare)):
        if given:  # a trace's durations are given, not run on the SIPs a scenario slows: not yet modelled
            raise BenchError(f"{flag}: what-if scenarios do not apply to Chakra traces yet (drop {flag})")
    if not args.compute_scale > 0:
        raise BenchError(f"--compute-scale {args.compute_scale}: expected a number > 0")


def prepare(args: argparse.Namespace) -> Setup:
    check_options(args)
    check_run_options(args)
    topo = load_system(args)
    ccl = load_collectives(args, topo)
    world = world_size_of(ccl.selected(), topo)
    check_size(args, topo, list(range(world)))
    try:
        workload = load_workload(args.chakra, world, args.chakra_replicate)
        check_groups(workload, topo, ccl)
    except ChakraError as exc:
        raise BenchError(str(exc)) from None
    inputs = {**topology_input(args), **ccl_input(args), "a Chakra trace": f"{args.chakra}.0.et"}
    return Setup(topo, ccl, workload, recording_of(args, topo), inputs)


def check_groups(workload: Workload, topo: Topology, ccl: CclConfig) -> None:
    """The process groups fit the SIPs (two PEs each) and the all-reduce algorithm: a `ChakraError` naming a node
    that uses the group, before the run."""
    table = GroupTable(topo, workload.world)
    for index, (name, members) in enumerate(workload.groups):
        try:
            group = table.create(index, members, members[0])
            for sip in members:
                table.collective_pe(group, sip)
            if any(n.op == "all_reduce" and n.group == name for n in workload.trace(members[0]).nodes):
                group_algorithm(ccl, topo, members)
        except GroupError as exc:
            trace = workload.trace(members[0])
            node = next(n for n in trace.nodes if n.kind == "collective" and n.group == name)
            raise ChakraError(trace.path, node.id, f"process group {name!r}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    wall0 = time.perf_counter()
    topo, ccl, workload, recording, inputs = agree_on_setup(lambda: prepare(args))
    wanted = {"--trace": args.trace, "--hw-stats": args.hw_stats, "--stats-json": args.stats_json}
    outputs = on_first_rank(lambda: check_outputs(wanted, inputs))
    eng = run_engine(args, topo, recording=recording)
    if args.json:  # a run that ends early (out of memory) still prints its line
        process.print_on_failure({"chakra": args.chakra, "status": "FAIL", "sips": workload.world, "ranks": eng.size})
    progress = ProgressLine(
        enabled=False if args.json or eng.rank != 0 else None,
        unit="ns",
        workers_label="ranks done",
        workers_total=workload.world,
    )
    eng.progress = progress
    try:
        ranks, error = feed(eng, ccl, workload, args.compute_scale)
    finally:
        progress.close()
    stats = run_stats(eng) if args.stats_json or eng.size > 1 or args.project else {}  # collective
    records = eng.gather_records() if recording is not None else None  # collective
    report = {**make_report(workload, ranks, error), "ranks": eng.size, "wall_s": time.perf_counter() - wall0}
    report["compute_scale"] = args.compute_scale
    projection = eng.sim.projection(report["wall_s"]) if args.project else None
    if projection is not None:
        report["projected_wall_s"] = projection["projected_wall_s"]
        report["projection"] = projection
    process.print_on_failure(None)

    def finish_run() -> int:
        hw, items = (
            (None, []) if recording is None or records is None else recorded_outputs(outputs, recording, records)
        )
        if "--stats-json" in outputs:
            text = stats_file_text({"chakra": args.chakra, "sips": workload.world}, stats)
            items.append((outputs["--stats-json"], text_writer(text)))
        if args.json:
            lines = [json_line(report)]
        else:
            extra = (
                ([sync_line(stats["sync"])] if eng.size > 1 else [])
                + ([projection_line(projection)] if projection is not None else [])
                + (hw_lines(hw) if hw is not None else [])
            )
            lines = text_lines(report, topo, [f"  {line}" for line in extra])
        return finish("\n".join(lines), items, exit_codes.PASS if report["status"] == "PASS" else exit_codes.FAIL)

    return on_first_rank(finish_run)


def feed(eng: Engine, ccl: CclConfig, workload: Workload, scale: float) -> tuple[list[dict[str, Any]], str | None]:
    """Every rank's feeder, one ``spawn``: each rank's breakdown (every rank's, on every process) and the error
    that failed the run (one line), if one did."""
    torch = RuntimeContext(eng, ccl)

    def rank(r: int) -> dict[str, Any]:
        return Feeder(torch, workload, r, scale).run()

    try:
        torch.multiprocessing.spawn(rank, nprocs=workload.world)
    except torch.multiprocessing.SpawnException as exc:
        return [], f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return [torch.multiprocessing.results[r] for r in range(workload.world)], None


# -- text --------------------------------------------------------------------------------------------------------


def text_lines(report: dict[str, Any], topo: Topology, extra: list[str]) -> list[str]:
    """A header (what ran where, status, wall time), then the slowest rank's breakdown and collectives and the
    spread of each figure over the ranks."""
    world = report["sips"]
    files = (
        f"{report['chakra']}.0.et on every SIP" if report["replicated"] else f"{report['chakra']}.{{0..{world - 1}}}.et"
    )
    lines = [
        f"kernbench run --chakra {report['chakra']}: {report['status']}",
        f"  traces       {files}: {count(world, 'rank')}, rank r on sip r",
        f"  topology     {topo.source}: {count(topo.sip_count, 'SIP')} ({topo.system.topology}), "
        f"{count(topo.cubes_per_sip, 'cube')} per SIP, {count(topo.pes_per_cube, 'PE')} per cube",
        f"  processes    {count(report['ranks'], 'rank')}"
        + (f"; compute scaled x{report['compute_scale']:g}" if report["compute_scale"] != 1 else ""),
        f"  wall         {report['wall_s']:.2f} s",
        *extra,
    ]
    if report["error"]:
        lines.append(f"  error        {report['error']}")
    slowest = report["slowest"]
    if slowest is None:
        return lines
    lines += [
        "",
        f"slowest rank {slowest['rank']} (sip{slowest['sip']}): total {slowest['total_us']:,.3f} us, compute "
        f"{slowest['compute_us']:,.3f} us, exposed communication {slowest['exposed_comm_us']:,.3f} us "
        f"(communication {slowest['comm_us']:,.3f} us, other {slowest['other_us']:,.3f} us), "
        f"{count(slowest['nodes'], 'node')}",
    ]
    if slowest["collectives"]:
        lines.append(
            f"  {'op':<16}{'size (B)':>14}{'group':>8}{'ranks':>7}{'count':>7}{'time (us)':>12}{'busbw (GB/s)':>14}"
        )
        for row in slowest["collectives"]:
            busbw = "-" if row["busbw_gbs"] is None else f"{row['busbw_gbs']:.2f}"
            lines.append(
                f"  {row['op']:<16}{row['size']:>14,}{row['group']:>8}{row['ranks']:>7}{row['count']:>7}"
                f"{row['time_us']:>12,.3f}{busbw:>14}"
            )
    for m in slowest["messages"]:
        lines.append(f"  {m['kind']:<5} {m['count']:,} messages, {m['bytes']:,} B, {m['time_us']:,.3f} us in flight")
    entries = report["per_rank"]
    if len(entries) > 1:
        lines.append(f"over {count(len(entries), 'rank')}, min / median / max (us):")
        for key, label in (("total_us", "total"), ("compute_us", "compute"), ("exposed_comm_us", "exposed comm")):
            values = [e[key] for e in entries]
            lines.append(f"  {label:<14}{min(values):,.3f} / {statistics.median(values):,.3f} / {max(values):,.3f}")
    return lines
