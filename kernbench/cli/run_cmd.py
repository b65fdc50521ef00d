"""``kernbench run``: run a bench (``benches/NAME.py``) on the simulated system and report PASS or FAIL.

This module reads what to run (`prepare`: the options are `kernbench.cli.run_args`) and puts the report together
(`run`); the bench runs in `kernbench.cli.bench_run` and the report's lines are `kernbench.cli.run_report`'s.
``--chakra`` is `kernbench.cli.chakra_cmd`, a scenario's jobs `kernbench.cli.jobs_run`. Under mpirun every rank
knows the outcome (and exits with the same code) while only rank 0 prints.
"""

from __future__ import annotations

import argparse
import functools
import time
from types import ModuleType
from typing import Any, NamedTuple

from kernbench.ccl import CclConfig
from kernbench.cli import exit_codes, process
from kernbench.cli.bench_loader import BenchError, bench_dirs, find, load
from kernbench.cli.bench_params import check_rules, declared, parse_sets, ranges
from kernbench.cli.bench_run import BenchFn, execute, ran_with, run_stats
from kernbench.cli.ccl_args import ccl_input, load_collectives
from kernbench.cli.output import finish, print_report
from kernbench.cli.output_files import check_outputs, text_writer
from kernbench.cli.record_args import recorded_outputs, recording_of
from kernbench.cli.run_args import add_run_args, check_run_options, check_size, device_label, device_sips, parse_device
from kernbench.cli.run_report import (
    FAIL,
    PASS,
    after_wall,
    hw_lines,
    json_line,
    list_lines,
    make_report,
    projection_line,
    stats_file_text,
    sync_line,
    text_lines,
)
from kernbench.cli.system_args import load_system, topology_input
from kernbench.cli.user_errors import agree_on_setup, on_first_rank
from kernbench.cli.what_if import compare_lines, compare_record, load_scenario_arg, scenario_input, scenario_line
from kernbench.engine.recorder import Recording
from kernbench.scenario import NO_SCENARIO, Scenario
from kernbench.topology import Topology
from pdes.transport import launcher_rank, launcher_size


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    add_run_args(sub.add_parser(name, help="run a bench on the simulated system and check its result against numpy"))


class Setup(NamedTuple):
    """What a run needs before the engine exists: all of it read and checked (a user error is a `BenchError`,
    `TopologyError` or `CclConfigError`)."""

    module: ModuleType
    bench: BenchFn  # the module's run, with the --set parameters bound
    params: dict[str, Any]
    topo: Topology
    ccl: CclConfig
    sips: list[int]
    recording: Recording | None  # what the SIPs record for --trace and --hw-stats
    inputs: dict[str, str]  # the files the run reads (no output may overwrite them), by role
    scenario: Scenario  # --scenario (NO_SCENARIO without it)


def prepare_jobs(args: argparse.Namespace, jobs_run: ModuleType) -> tuple[Topology, Scenario, list]:
    """A run of a scenario's jobs (no ``--bench``): the system, the scenario and every job checked."""
    if args.scenario is None:
        raise BenchError(
            "one of --bench NAME, --list or --chakra PREFIX is needed "
            "(or --scenario FILE whose jobs name their benches)"
        )
    check_run_options(args)
    topo = load_system(args)
    scenario = load_scenario_arg(args, topo)
    if not scenario.jobs:
        raise BenchError(f"--scenario {scenario.source} has no jobs: give --bench NAME to run under it")
    setups = jobs_run.prepare_jobs(args, topo, scenario)
    check_size(args, topo, sorted(sip for setup in setups for sip in setup.job.sips))
    return topo, scenario, setups


def prepare(args: argparse.Namespace) -> Setup:
    check_run_options(args)
    path = find(args.bench, bench_dirs(args.benches_dir))  # before the topology: a typo should not wait
    device = parse_device(args.device or "sip:0")
    module = load(args.bench, path)
    if getattr(module, "SPMD", False) and device is not None and args.device is not None:  # "all" is what it does
        raise BenchError(
            f"--device {args.device}: bench {args.bench} is SPMD, it runs one rank on every SIP (choose how many "
            "with --sips)"
        )
    params = parse_sets(args.bench, declared(args.bench, module), args.set, ranges(module))
    bench = functools.partial(module.run, **params) if params else module.run
    topo = load_system(args)
    ccl = load_collectives(args, topo)
    check_rules(args.bench, module, params, topo, ccl)
    sips = device_sips(device, topo)
    if getattr(module, "SPMD", False):  # it spawns one rank per SIP itself
        sips = list(range(topo.sip_count))
    check_size(args, topo, sips)
    scenario = load_scenario_arg(args, topo)
    if scenario.jobs:
        raise BenchError(
            f"--bench {args.bench}: the jobs of --scenario {scenario.source} name their benches; drop --bench"
        )
    inputs = {**topology_input(args), **ccl_input(args), **scenario_input(args), "the bench's file": str(path)}
    return Setup(module, bench, params, topo, ccl, sips, recording_of(args, topo), inputs, scenario)


def run(args: argparse.Namespace) -> int:
    if args.chakra is not None or args.chakra_replicate or args.compute_scale != 1:
        from kernbench.cli import chakra_cmd  # it builds on this module's helpers

        return chakra_cmd.run(args)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if args.list:
        if args.set:
            raise BenchError("--set needs --bench NAME")
        lines = list_lines(bench_dirs(args.benches_dir))  # on every rank: none found is an error on each
        return (print_report("\n".join(lines)) if launcher_rank() == 0 else None) or exit_codes.PASS
    if args.bench is None:
        from kernbench.cli import jobs_run  # it builds on this module: the report of one bench

        topo, scenario, setups = agree_on_setup(lambda: prepare_jobs(args, jobs_run))
        return jobs_run.run_jobs(args, topo, scenario, setups)
    module, bench, params, topo, ccl, sips, recording, inputs, scenario = agree_on_setup(lambda: prepare(args))
    wanted = {"--trace": args.trace, "--hw-stats": args.hw_stats, "--stats-json": args.stats_json}
    outputs = on_first_rank(lambda: check_outputs(wanted, inputs))  # rank 0 writes them
    if args.json:  # a run that ends early (out of memory, os._exit) still prints its line
        process.print_on_failure(
            {
                "bench": args.bench,
                "status": FAIL,
                "sim_latency_ns": None,
                "sips": sips,
                "ranks": args.ranks or launcher_size(),
                "params": params,
                "results": [],
            }
        )
    baseline = None
    if args.compare:  # the same run without the scenario first: only its results are kept
        _, base_results = execute(args, module, bench, topo, ccl, sips, None, NO_SCENARIO)
        baseline = make_report(args.bench, base_results, sips=sips, ranks=1, wall_s=0.0)
    eng, results = execute(args, module, bench, topo, ccl, sips, recording, scenario)
    stats = run_stats(eng) if args.stats_json or eng.size > 1 or args.project else {}  # collective; {}: unused
    records = eng.gather_records() if recording is not None else None  # collective
    report = make_report(args.bench, results, sips=sips, ranks=eng.size, wall_s=time.perf_counter() - wall0)
    report["params"] = params = ran_with(params, results)
    if not scenario.empty:
        report["scenario"] = {"file": scenario.source, "summary": scenario.summary(topo.system)}
    if baseline is not None:
        report["compare"] = compare_record(baseline, report)
    cpu_s = time.process_time() - cpu0  # this process's CPU time over wall_s's span (rank 0's under mpirun)
    projection = eng.sim.projection(report["wall_s"], cpu_s) if args.project else None
    if projection is not None:
        report["projected_wall_s"] = projection["projected_wall_s"]
        report["projection"] = projection
    process.print_on_failure(None)

    def finish_run() -> int:  # every rank has the same report; one prints and writes
        hw, items = (
            (None, []) if recording is None or records is None else recorded_outputs(outputs, recording, records)
        )
        if "--stats-json" in outputs:
            text = stats_file_text({"bench": args.bench, "sips": len(sips), "cpu_s": cpu_s}, stats)
            items.append((outputs["--stats-json"], text_writer(text)))
        lines = (
            [json_line(report)]
            if args.json
            else text_lines(report, topo, device_label(args, module), module, eng.size, args.verbose, params)
        )
        if not args.json:
            extra = (
                ([sync_line(stats["sync"])] if eng.size > 1 else [])
                + ([projection_line(projection)] if projection is not None else [])
                + (hw_lines(hw) if hw is not None else [])
                + (compare_lines(report["compare"]) if "compare" in report else [])
            )
            at = after_wall(lines)
            lines[at:at] = ["  " + line for line in extra]
            if not scenario.empty:
                lines.insert(at - 1, f"  scenario     {scenario_line(scenario, topo)}")
        return finish("\n".join(lines), items, exit_codes.PASS if report["status"] == PASS else exit_codes.FAIL)

    return on_first_rank(finish_run)
