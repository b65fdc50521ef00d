"""``kernbench run``: run a bench (``benches/NAME.py``) on the simulated system and report PASS or FAIL.

A bench is host code: its ``run(torch)`` is called in a host worker bound to one SIP, with the process's
`RuntimeContext` as ``torch``, and returns a dict of ``checks`` (name -> bool) and metrics
(docs/guides/writing-a-bench.md).
The bench's simulated latency is the SIP's clock from the call to its return. Everything a worker reports is
plain data, gathered from every rank by the engine, so under mpirun the SIP runs on the rank that owns it and
every rank knows the outcome (and exits with the same code) while only rank 0 prints.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from kernbench.ccl import CclConfig
from kernbench.cli import exit_codes, process
from kernbench.cli.bench_loader import BenchError, available, bench_dirs, describe, find, load
from kernbench.cli.bench_params import declared, parse_sets, ranges, read_declared, summary
from kernbench.cli.ccl_args import add_ccl_args, ccl_input, load_collectives
from kernbench.cli.labels import count
from kernbench.cli.memory_needs import require, sips_need
from kernbench.cli.output import finish, print_report
from kernbench.cli.output_files import check_outputs, text_writer
from kernbench.cli.record_args import add_record_args, check_record_options, recorded_outputs, recording_of
from kernbench.cli.run_report import FAIL, PASS, hw_lines, json_line, make_report, text_lines
from kernbench.cli.spmd_verdicts import combine_verdicts
from kernbench.cli.system_args import add_system_args, load_system, topology_input, warn_idle_ranks
from kernbench.cli.user_errors import agree_on_setup, on_first_rank
from kernbench.cli.what_if import (
    add_scenario_args,
    compare_lines,
    compare_record,
    load_scenario_arg,
    scenario_input,
    scenario_line,
)
from kernbench.engine import Engine
from kernbench.engine.recorder import Recording
from kernbench.runtime import RuntimeContext
from kernbench.runtime.multiprocessing import SpawnException
from kernbench.runtime.worker_errors import user_frame, user_frame_in
from kernbench.scenario import NO_SCENARIO, Scenario
from kernbench.topology import Topology
from pdes import RemoteError, SimulationDeadlock, memory
from pdes.codec import CodecError, encode
from pdes.errors import message_of
from pdes.partition import PARTITIONS
from pdes.progress import ProgressLine
from pdes.sync import SYNC_MODES
from pdes.transport import launched_by_mpi, launcher_rank, launcher_size

BenchFn = Callable[[RuntimeContext], Any]


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="run a bench on the simulated system and check its result against numpy")
    what = p.add_mutually_exclusive_group()  # one of them, or a --scenario with jobs (run checks)
    what.add_argument(
        "--bench", metavar="NAME", help="the bench to run: benches/NAME.py (./benches first, then the shipped ones)"
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
        "events and messages (README, Statistics)",
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
    require(sips_need(here), f"{system}: {count(here, 'SIP')} running code in this process (README, Sizing a job)")


def run(args: argparse.Namespace) -> int:
    if args.chakra is not None or args.chakra_replicate or args.compute_scale != 1:
        from kernbench.cli import chakra_cmd  # it builds on this module's helpers

        return chakra_cmd.run(args)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if args.list:
        if args.set:
            raise BenchError("--set needs --bench NAME")
        if launcher_rank() == 0:
            return print_report("\n".join(list_lines(bench_dirs(args.benches_dir)))) or exit_codes.PASS
        return exit_codes.PASS
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
            text = json.dumps({"bench": args.bench, "sips": len(sips), "cpu_s": cpu_s, **stats}, indent=1) + "\n"
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
            at = _after_wall(lines)
            lines[at:at] = ["  " + line for line in extra]
            if not scenario.empty:
                lines.insert(at - 1, f"  scenario     {scenario_line(scenario, topo)}")
        return finish("\n".join(lines), items, exit_codes.PASS if report["status"] == PASS else exit_codes.FAIL)

    return on_first_rank(finish_run)


def execute(
    args: argparse.Namespace,
    module: ModuleType,
    bench: BenchFn,
    topo: Topology,
    ccl: CclConfig,
    sips: list[int],
    recording: Recording | None,
    scenario: Scenario,
) -> tuple[Engine, list[dict[str, Any]]]:
    """The bench on a fresh engine of ``topo`` under ``scenario``: the engine and the results of its SIPs."""
    # MPI transport when launched by mpirun, else --ranks virtual ranks; benches report themselves
    eng = Engine(
        topo,
        report_requests=False,
        transport="local" if args.ranks else None,
        ranks=args.ranks,
        partition=args.partition,
        sync=args.sync,
        recording=recording,
        scenario=scenario,
    )
    warn_idle_ranks(eng, topo)
    progress = ProgressLine(
        enabled=False if args.json or eng.rank != 0 else None,
        unit="ns",
        workers_label="sips done",
        workers_total=len(sips),
    )
    eng.progress = progress  # every run of this engine: the bench's, or those an SPMD bench starts by spawn
    try:
        if getattr(module, "SPMD", False):
            results = run_spmd(eng, ccl, bench, sips)
        else:
            results = run_bench(eng, ccl, bench, sips)
    finally:
        progress.close()
    if args.verify_data:
        for r in results:
            if r["status"] == PASS and not r["checks"]:
                r["status"], r["error"] = FAIL, "--verify-data: the bench checked nothing (it returned no checks)"
    return eng, results


def run_stats(eng: Engine) -> dict[str, Any]:
    """Collective: the engine's statistics (`pdes.Simulation.stats`), each rank's ``sips`` (the SIPs it owns)."""
    stats = eng.sim.stats()
    for r in stats["ranks"]:
        r["sips"] = r["lps"]  # one LP per SIP
    return stats


def _after_wall(lines: list[str]) -> int:
    """Where the summary lines go: after the header's ``wall`` line."""
    return next(i for i, line in enumerate(lines) if line.startswith("  wall ")) + 1


def sync_line(sync: dict[str, Any]) -> str:
    """``sync: 2 ranks, 150 rounds, 1.2M events (50.1% / 49.9%), null 3,004 / real 1,200 msgs, blocked 23% of
    wall, lambda 4.2``: the shares per rank for up to 4 ranks, else their range."""
    shares = sync["events_share"]
    if len(shares) <= 4:
        split = " / ".join(f"{100 * x:.1f}%" for x in shares)
    else:
        split = f"{100 * min(shares):.1f}%..{100 * max(shares):.1f}% per rank"
    lam = sync["lambda"]
    return (
        f"sync: {count(sync['ranks'], 'rank')}, {count(sync['rounds'], 'round')}, "
        f"{_si(sync['events'])} events ({split}), null {sync['null_msgs']:,} / real {sync['real_msgs']:,} msgs, "
        f"blocked {100 * sync['blocked_fraction']:.0f}% of wall, lambda {'-' if lam is None else f'{lam:.3g}'}"
    )


def projection_line(p: dict[str, Any]) -> str:
    """``projected: 4 ranks on 4 cores 1.23 s (serial 0.20 + critical path 0.85 + sync 150 x 0.74 ms + MPI start
    0.13); measured in one process 3.10 s: 2.5x; from CPU time (cores to itself) 0.98 s``."""
    speedup = p["speedup"]
    return (
        f"projected: {count(p['ranks'], 'rank')} on {p['ranks']} cores {p['projected_wall_s']:.2f} s "
        f"(serial {p['serial_s'] + p['per_rank_other_s']:.2f} + critical path {p['critical_path_s']:.2f} + sync "
        f"{p['rounds']:,} x {1e3 * p['round_cost_s']:.2f} ms + MPI start {p['start_s']:.2f}); measured in one "
        f"process {p['measured_wall_s']:.2f} s"
        + (f": {speedup:.2f}x" if speedup else "")
        + (f"; from CPU time (cores to itself) {p['projected_cpu_s']:.2f} s" if p["projected_cpu_s"] else "")
    )


def _si(n: int) -> str:
    """1234 -> ``1,234``; 1_234_567 -> ``1.2M``."""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 100_000:
        return f"{n / 1e3:.0f}k"
    return f"{n:,}"


def list_lines(dirs: list[Path]) -> list[str]:
    benches = available(dirs)
    if not benches:
        return ["no benches found (searched: " + (", ".join(str(d) for d in dirs) or "nothing") + ")"]
    width = max(len(name) for name in benches)
    lines = []
    for name, path in benches.items():
        lines.append(f"{name:<{width}}  {describe(path)}")
        params = read_declared(path)
        if params:
            lines.append(" " * (width + 2) + "--set " + summary({k: default for k, (default, _) in params.items()}))
    return lines


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


def ran_with(params: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters as the bench ran them: a default the bench resolves itself (``ccl_allreduce``'s
    ``n_elem=0``: the ccl.yaml algorithm's) shows the value its results report under the same name."""
    out = dict(params)
    for key in params:
        values = [r["metrics"][key] for r in results if key in r.get("metrics", {})]
        if values and all(v == values[0] for v in values):
            out[key] = values[0]
    return out


def device_sips(device: int | None, topo: Topology) -> list[int]:
    """The SIPs to run on; a SIP the topology does not have is a `BenchError`."""
    if device is None:
        return list(range(topo.sip_count))
    if device >= topo.sip_count:
        raise BenchError(
            f"--device sip:{device}: {topo.source} has {topo.sip_count} SIPs (sip:0..sip:{topo.sip_count - 1})"
        )
    return [device]


# -- running -----------------------------------------------------------------------------------------------------


def run_bench(eng: Engine, ccl: CclConfig, bench: BenchFn, sips: list[int]) -> list[dict[str, Any]]:
    """Run ``bench(torch)`` once on each SIP of ``sips`` (all at once) in one run of the fresh engine ``eng``
    (shown by ``eng.progress``, like the runs of SPMD benches).

    Returns one result per SIP, in ``sips`` order, identical on every rank: ``sip``, ``rank`` (where it ran),
    ``status``, ``sim_latency_ns``, ``checks``, ``metrics``, ``error`` (None or one line) and ``phases``
    (`PhaseLog.totals`). SIPs whose host code was left waiting for something that never happens (a kernel's
    receive nobody sends to) FAIL with the deadlock's first line; the others keep their results.
    """
    for sip in sips:
        if eng.is_local(sip):
            # One torch per SIP, as one process per rank would have: RuntimeContext.cleanup() (``with torch:``)
            # frees every tensor of its context, and another SIP's tensors cannot be unmapped from this worker.
            torch = RuntimeContext(eng, ccl)
            eng.spawn(sip, _worker, eng, torch, bench, name=_worker_name(sip))
    deadlock: SimulationDeadlock | None = None
    try:
        done = eng.run().workers
    except SimulationDeadlock as exc:
        done, deadlock = exc.finished, exc
    return [done.get(_worker_name(sip)) or _deadlocked(eng, sip, deadlock) for sip in sips]


def _deadlocked(eng: Engine, sip: int, deadlock: SimulationDeadlock | None) -> dict[str, Any]:
    """The result of a SIP whose host code never finished: it waited in ``deadlock``."""
    if deadlock is None:
        raise RuntimeError(f"the bench's host code on sip{sip} did not finish")
    waiting = next((w for w in deadlock.blocked if w["worker"] == _worker_name(sip)), {"now": 0.0})
    lines = message_of(deadlock).splitlines()
    mine = [line.strip() for line in lines[1:] if line.startswith(f"  sip{sip}.")][:1]  # its first stuck queue
    return {
        "sip": sip,
        "rank": eng.rank_of(sip),
        "status": FAIL,
        "sim_latency_ns": float(waiting["now"]),
        "checks": {},
        "metrics": {},
        "error": f"{type(deadlock).__name__}: " + "; ".join([lines[0], *mine]) + " (this SIP's host code never ended)",
        "phases": [],
    }


def run_spmd(eng: Engine, ccl: CclConfig, bench: BenchFn, sips: list[int]) -> list[dict[str, Any]]:
    """Run an SPMD bench (``SPMD = True``): ``run(torch)`` at the top level of every process, as a script under
    mpirun; it starts its ranks with ``torch.multiprocessing.spawn`` and returns one dict, the same on every
    process (spawn gathers every rank's results). Reported once per SIP: its latency is the bench's
    ``sim_latency_ns`` if it returns one, else the SIP's simulated time in spawned workers (first start to last
    end, `Multiprocessing.spans`), and its phases its runtime trace (`Multiprocessing.phases`).

    Whatever ``run(torch)`` raises on one process (``sys.exit`` included) is a FAIL on every process: the
    processes settle (`Engine.settle`) after it, so one that failed outside a spawn does not leave the others
    waiting inside it. Processes that judge differently (a check of their own) FAIL together
    (`combine_verdicts`)."""
    torch = RuntimeContext(eng, ccl)
    checks: dict[str, bool] = {}
    metrics: dict[str, Any] = {}
    failure: BaseException | None = None
    try:
        checks, metrics = split_result(bench(torch))
    except (Exception, SystemExit) as exc:
        memory.check(exc)
        failure = exc
    try:  # a process that failed before a spawn the others are in ends it for them; all learn who failed
        eng.settle(failure)
    except (Exception, SystemExit) as exc:
        memory.check(exc)
        failure = failure or exc
    error = None if failure is None else one_line(failure)
    latency = metrics.pop("sim_latency_ns", None)
    failed = [name for name, ok in checks.items() if not ok]
    status = PASS if error is None and not failed else FAIL
    if error is None and failed:
        error = "failed checks: " + ", ".join(failed)
    verdict = combine_verdicts({"status": status, "error": error, "checks": checks})
    status, error, checks = verdict["status"], verdict["error"], verdict["checks"]
    spans, phases = torch.multiprocessing.spans, torch.multiprocessing.phases
    return [
        {
            "sip": sip,
            "rank": eng.rank_of(sip),
            "status": status,
            "sim_latency_ns": float(latency) if latency is not None else _span_ns(spans.get(sip)),
            "checks": checks,
            "metrics": metrics,
            "error": error,
            "phases": phases.get(sip, []),
        }
        for sip in sips
    ]


def _span_ns(span: tuple[float, float] | None) -> float:
    return 0.0 if span is None else span[1] - span[0]


def _worker_name(sip: int) -> str:
    return f"bench.sip{sip}"


def _worker(sip: int, eng: Engine, torch: RuntimeContext, bench: BenchFn) -> dict[str, Any]:
    """Host code of one SIP: time the bench, catch what it raises, ``sys.exit`` included (a FAIL of this SIP,
    not a crash of the whole job that would lose every other SIP's report)."""
    start = eng.now()
    checks: dict[str, bool] = {}
    metrics: dict[str, Any] = {}
    error = None
    try:
        value = bench(torch)
        end = eng.now()
        checks, metrics = split_result(value)
    except (Exception, SystemExit) as exc:  # sys.exit in host code fails this SIP, not the whole job
        memory.check(exc)
        end = eng.now()
        error = one_line(exc)
    failed = [name for name, ok in checks.items() if not ok]
    status = PASS if error is None and not failed else FAIL
    if error is None and failed:
        error = "failed checks: " + ", ".join(failed)
    result = {
        "sip": sip,
        "rank": eng.rank_of(sip),
        "status": status,
        "sim_latency_ns": end - start,
        "checks": checks,
        "metrics": metrics,
        "error": error,
        "phases": torch.traces[sip].totals(),
    }
    return travels(result)


def travels(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` if every value in it can travel between ranks (msgpack, `pdes.codec`), else the same result with
    no metrics, FAILed with the reason: one SIP's bad value must not lose every other SIP's report."""
    try:
        encode(result)
    except CodecError as exc:
        bad = next((k for k, v in result["metrics"].items() if not _encodes(v)), None)
        what = f"metric {bad!r}" if bad is not None else "its result"
        return {
            **result,
            "status": FAIL,
            "metrics": {},
            "error": f"{what} cannot be sent between ranks: {message_of(exc)}",
        }
    return result


def _encodes(value: Any) -> bool:
    try:
        encode(value)
    except CodecError:
        return False
    return True


def split_result(value: Any) -> tuple[dict[str, bool], dict[str, Any]]:
    """A bench's return value -> (checks, metrics); anything but a dict with a dict of checks raises TypeError."""
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        raise TypeError(f"run(torch) returned {type(value).__name__}, expected a dict (or None)")
    raw_checks = value.get("checks", {})
    if not isinstance(raw_checks, dict):
        raise TypeError(f"run(torch) returned checks of type {type(raw_checks).__name__}, expected a dict")
    checks = {str(name): bool(ok) for name, ok in raw_checks.items()}
    metrics = {str(k): plain(v) for k, v in value.items() if k != "checks"}
    return checks, metrics


def plain(value: Any) -> Any:
    """``value`` as JSON- and msgpack-ready data: numpy scalars and arrays become Python values and lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def one_line(exc: BaseException) -> str:
    """``Type: message (at file.py:LINE)``: the innermost line of user code (the bench, or what it called) that
    raised; for another process's failure (`RemoteError`) the one its traceback names. A `SpawnException`'s
    message already names each failed rank's own line (not the ``spawn`` call's)."""
    if isinstance(exc, SpawnException):
        where = None
    elif isinstance(exc, RemoteError):
        where = user_frame_in(exc.failures[0]["traceback"])
    else:
        where = user_frame(exc)
    message = " ".join(message_of(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {message}" + (f" (at {where})" if where else "")
