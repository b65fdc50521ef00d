"""``kernbench run --scenario FILE`` for a scenario with ``jobs``: SPMD benches on disjoint SIPs at once on one
system, each beside the same job run alone on it, so each one's slowdown from sharing the fabric shows.

Each job's world is its own SIPs (rank r on the job's SIP ``r``: `kernbench.runtime.jobs`), with its own parameters
and all-reduce algorithm. All jobs run together on one engine (their traffic shares links where their routes
cross), then each job alone on a fresh engine under the rest of the scenario (its slower SIPs, links, jitter).
A job's time is the bench's ``sim_latency_ns``, or its ranks' time in ``spawn``; its slowdown is shared over alone.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from kernbench.ccl import CclConfig, CclConfigError, load_ccl_config
from kernbench.cli import exit_codes
from kernbench.cli.bench_loader import BenchError, bench_dirs, find, load
from kernbench.cli.bench_params import check_rules, declared, format_value, parse_sets, ranges, summary
from kernbench.cli.bench_run import one_line, run_engine, split_result
from kernbench.cli.ccl_args import select_algorithm
from kernbench.cli.labels import count, sip_set
from kernbench.cli.output import finish
from kernbench.cli.run_report import FAIL, PASS, json_line
from kernbench.cli.spmd_verdicts import combine_verdicts
from kernbench.cli.user_errors import on_first_rank
from kernbench.cli.what_if import scenario_line
from kernbench.runtime import RuntimeContext
from kernbench.runtime.distributed import process_group_plans
from kernbench.runtime.groups import GroupError
from kernbench.runtime.jobs import Jobs
from kernbench.scenario import Job, Scenario, ScenarioError
from kernbench.topology import Topology
from pdes import memory
from pdes.progress import ProgressLine

UNUSED_WITH_JOBS = ("set", "trace", "hw_stats", "stats_json", "project", "verify_data")
"""Options of ``kernbench run`` that a run of jobs refuses (each job has its own params in the scenario)."""


class JobSetup(NamedTuple):
    """One job, read and checked before anything runs."""

    job: Job
    bench: Callable[[RuntimeContext], Any]  # the module's run, with the job's params bound
    params: dict[str, Any]
    ccl: CclConfig


def prepare_jobs(args: argparse.Namespace, topo: Topology, scenario: Scenario) -> list[JobSetup]:
    """Every job's bench, parameters and algorithm checked; a problem is one line naming the job's YAML path."""
    used = [name for name in UNUSED_WITH_JOBS if getattr(args, name)] + (["device"] if args.device is not None else [])
    if used:
        flag = "--" + used[0].replace("_", "-")
        raise BenchError(f"{flag}: not with a scenario's jobs ({scenario.source}), which name their own params")
    return [_prepare(args, topo, scenario, i, job) for i, job in enumerate(scenario.jobs)]


def _prepare(args: argparse.Namespace, topo: Topology, scenario: Scenario, i: int, job: Job) -> JobSetup:
    def fail(key: str, problem: object) -> ScenarioError:
        return ScenarioError(scenario.source, f"jobs[{i}]{key}", str(problem))

    try:
        module = load(job.bench, find(job.bench, bench_dirs(args.benches_dir)))
    except BenchError as exc:
        raise fail(".bench", exc) from None
    if not getattr(module, "SPMD", False):
        raise fail(".bench", f"bench {job.bench!r} runs on each SIP alone; a job runs an SPMD bench (SPMD = True)")
    sets = [f"{key}={format_value(value) if isinstance(value, bool) else value}" for key, value in job.params]
    try:
        params = parse_sets(job.bench, declared(job.bench, module), sets, ranges(module))
    except BenchError as exc:
        raise fail(".params", str(exc).removeprefix("--set ")) from None
    try:
        ccl = select_algorithm(load_ccl_config(args.ccl), job.algorithm or args.algorithm, topo)
        process_group_plans(ccl, topo, job.sips, [(0, 0)] * len(job.sips))  # the job's world is a process group
    except (CclConfigError, GroupError) as exc:
        raise fail(".algorithm" if job.algorithm else "", exc) from None
    try:
        check_rules(job.bench, module, params, topo, ccl)
    except BenchError as exc:
        raise fail(".params", exc) from None
    bench = functools.partial(module.run, **params) if params else module.run
    return JobSetup(job, bench, params, ccl)


def run_jobs(args: argparse.Namespace, topo: Topology, scenario: Scenario, setups: list[JobSetup]) -> int:
    """All jobs at once, then each alone; the report (exit 0 when every job passed both ways, else 1)."""
    wall0 = time.perf_counter()
    shared, ranks = execute(args, topo, scenario, setups)
    alone = [execute(args, topo, scenario.fabric_only, [setup])[0][0] for setup in setups]
    records = [_record(s, together, by_itself) for s, together, by_itself in zip(setups, shared, alone, strict=True)]
    report = {
        "scenario": {"file": scenario.source, "summary": scenario.summary(topo.system)},
        "status": PASS if all(r["status"] == PASS for r in records) else FAIL,
        "ranks": ranks,
        "wall_s": time.perf_counter() - wall0,
        "jobs": records,
    }

    def finish_run() -> int:
        text = json_line(report) if args.json else "\n".join(text_lines(report, topo, scenario))
        return finish(text, [], exit_codes.PASS if report["status"] == PASS else exit_codes.FAIL)

    return on_first_rank(finish_run)


def execute(
    args: argparse.Namespace, topo: Topology, scenario: Scenario, setups: list[JobSetup]
) -> tuple[list[dict[str, Any]], int]:
    """``setups``' jobs at once on a fresh engine under ``scenario``: each one's outcome, and the rank count."""
    eng = run_engine(args, topo, scenario=scenario)
    total = sum(len(s.job.sips) for s in setups)
    progress = ProgressLine(enabled=False if args.json or eng.rank != 0 else None, unit="ns", workers_total=total)
    eng.progress = progress
    jobs = Jobs(eng)
    contexts = [jobs.context(s.ccl, s.job.sips) for s in setups]
    try:
        try:
            outcomes = jobs.run([functools.partial(s.bench, ctx) for s, ctx in zip(setups, contexts, strict=True)])
        except (Exception, SystemExit) as exc:  # the processes disagree on the runs: every job fails
            memory.check(exc)
            outcomes = [(False, exc)] * len(setups)
        failure = next((value for ok, value in outcomes if not ok), None)
        try:
            eng.settle(failure)
        except (Exception, SystemExit) as exc:
            memory.check(exc)
            outcomes = [(False, exc) if ok else (ok, value) for ok, value in outcomes]
    finally:
        progress.close()
    return [_outcome(ok, value, ctx) for (ok, value), ctx in zip(outcomes, contexts, strict=True)], eng.size


def _outcome(ok: bool, value: Any, ctx: RuntimeContext) -> dict[str, Any]:
    """One job's verdict (combined over the processes), checks, metrics and time."""
    checks: dict[str, bool] = {}
    metrics: dict[str, Any] = {}
    error = None
    if ok:
        try:
            checks, metrics = split_result(value)
        except TypeError as exc:
            error = one_line(exc)
    else:
        error = one_line(value)
    failed = [name for name, passed in checks.items() if not passed]
    if error is None and failed:
        error = "failed checks: " + ", ".join(failed)
    verdict = combine_verdicts({"status": FAIL if error else PASS, "error": error, "checks": checks})
    spans = [ctx.multiprocessing.spans[sip] for sip in ctx.job or () if sip in ctx.multiprocessing.spans]
    latency = metrics.pop("sim_latency_ns", None)
    if latency is None:
        latency = max(end for _, end in spans) - min(start for start, _ in spans) if spans else 0.0
    return {**verdict, "metrics": metrics, "sim_latency_ns": float(latency)}


def _record(setup: JobSetup, shared: dict[str, Any], alone: dict[str, Any]) -> dict[str, Any]:
    ok = shared["status"] == PASS and alone["status"] == PASS
    error = shared["error"] or (f"alone: {alone['error']}" if alone["error"] else None)
    return {
        "bench": setup.job.bench,
        "sips": list(setup.job.sips),
        "params": setup.params,
        "algorithm": setup.ccl.selected().name,
        "status": PASS if ok else FAIL,
        "error": error,
        "checks": shared["checks"],
        "metrics": shared["metrics"],
        "sim_latency_ns": shared["sim_latency_ns"],
        "alone_ns": alone["sim_latency_ns"],
        "slowdown": shared["sim_latency_ns"] / alone["sim_latency_ns"] if ok and alone["sim_latency_ns"] else None,
    }


def text_lines(report: dict[str, Any], topo: Topology, scenario: Scenario) -> list[str]:
    """A header, one line per job (alone, shared, slowdown), then each job's checks and metrics."""
    jobs = report["jobs"]
    lines = [
        f"kernbench run: {count(len(jobs), 'job')} on one fabric: {report['status']}",
        f"  topology     {topo.source}: {count(topo.sip_count, 'SIP')}, {count(topo.cubes_per_sip, 'cube')} "
        f"per SIP, {count(topo.pes_per_cube, 'PE')} per cube",
        f"  scenario     {scenario_line(scenario, topo)}",
        f"  ranks        {report['ranks']}",
        f"  wall         {report['wall_s']:.2f} s",
    ]
    names = [f"{i} {r['bench']} on {sip_set(r['sips'])}" for i, r in enumerate(jobs)]
    width = max(len("job"), *map(len, names))
    lines += ["", f"  {'job':<{width}}  {'status':<6} {'alone us':>12} {'shared us':>12} {'slowdown':>9}"]
    for name, r in zip(names, jobs, strict=True):
        slowdown = "-" if r["slowdown"] is None else f"{r['slowdown']:.3f}x"
        lines.append(
            f"  {name:<{width}}  {r['status']:<6} {r['alone_ns'] / 1e3:>12,.3f} {r['sim_latency_ns'] / 1e3:>12,.3f} "
            f"{slowdown:>9}"
        )
    for i, r in enumerate(jobs):
        lines += ["", f"job {i}: {r['bench']} (algorithm {r['algorithm']}): {r['status']}"]
        if r["params"]:
            lines.append(f"  params:  {summary(r['params'])}")
        if r["error"]:
            lines.append(f"  error:   {r['error']}")
        if r["checks"]:
            lines.append("  checks:  " + "  ".join(f"{k} {'ok' if ok else 'FAILED'}" for k, ok in r["checks"].items()))
        if r["metrics"]:
            lines.append("  metrics: " + "  ".join(f"{k}={_value(v)}" for k, v in r["metrics"].items()))
    return lines


def _value(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)
