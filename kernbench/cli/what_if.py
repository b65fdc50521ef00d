"""``--scenario FILE`` and ``--compare`` of ``kernbench run`` and ``kernbench ccl-perf``: the what-if scenario a
run simulates (`kernbench.scenario`), said in one line, and how it changed the run against the same run without it.

The comparison is in step time and its breakdown (compute, exposed communication) for the slowest rank and the
median one. A bench gives the breakdown by reporting ``step_ns``, ``compute_ns``, ``exposed_comm_ns`` (its slowest
rank) and ``median_step_ns``, ``median_compute_ns``, ``median_exposed_comm_ns``, with ``slowest_rank`` and
``median_rank`` (benches/dp_step.py does); for any other bench the SIPs' latencies stand for the step.
"""

from __future__ import annotations

import argparse
from typing import Any

from kernbench.scenario import NO_SCENARIO, Scenario, ScenarioError, load_scenario
from kernbench.topology import Topology

PARTS = (("step", "step_ns"), ("compute", "compute_ns"), ("exposed comm", "exposed_comm_ns"))


def add_scenario_args(p: argparse.ArgumentParser, compared: str) -> None:
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="a what-if scenario (YAML): slower SIPs, compute jitter, degraded or failed links"
        + (", jobs sharing the fabric" if "jobs" in compared else "")
        + " (docs/guides/what-if.md)",
    )
    p.add_argument("--compare", action="store_true", help=f"also run without the scenario and print {compared}")


def load_scenario_arg(args: argparse.Namespace, topo: Topology) -> Scenario:
    """The ``--scenario`` file checked against ``topo`` (a `ScenarioError`, exit 2, if bad); none without it."""
    if args.scenario is None:
        if args.compare:
            raise ScenarioError("--compare", "", "needs --scenario FILE (the run to compare with the one without it)")
        return NO_SCENARIO
    return load_scenario(args.scenario, topo)


def scenario_input(args: argparse.Namespace) -> dict[str, str]:
    """The scenario file as an input that no output may overwrite (`kernbench.cli.output_files`)."""
    return {"the --scenario file": args.scenario} if args.scenario is not None else {}


def scenario_line(scenario: Scenario, topo: Topology) -> str:
    return f"{scenario.source}: {scenario.summary(topo.system)}"


# -- kernbench run --compare ---------------------------------------------------------------------------------------


def breakdown(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The slowest and the median rank of a run: ``rank`` and the parts of `PARTS` it reports (ns)."""
    results = report["results"]
    metrics = results[0]["metrics"]
    if "median_step_ns" in metrics:  # an SPMD bench's own breakdown; its step: the slowest rank's latency
        slowest = {"rank": metrics.get("slowest_rank"), "step_ns": report["sim_latency_ns"], **_parts(metrics, "")}
        return {"slowest": slowest, "median": {"rank": metrics.get("median_rank"), **_parts(metrics, "median_")}}
    ordered = sorted(results, key=lambda r: (r["sim_latency_ns"], r["sip"]))
    picks = {"slowest": ordered[-1], "median": ordered[(len(ordered) - 1) // 2]}
    return {
        name: {"rank": r["sip"], **_parts(r["metrics"], ""), "step_ns": r["sim_latency_ns"]}
        for name, r in picks.items()
    }


def _parts(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {key: metrics[prefix + key] for _, key in PARTS if isinstance(metrics.get(prefix + key), int | float)}


def compare_record(baseline: dict[str, Any], scenario: dict[str, Any]) -> dict[str, Any]:
    """What ``--json`` adds: each run's status and breakdown."""
    return {
        "baseline": {"status": baseline["status"], **breakdown(baseline)},
        "scenario": {"status": scenario["status"], **breakdown(scenario)},
    }


def compare_lines(record: dict[str, Any]) -> list[str]:
    """``what-if: ...`` then, for the slowest and the median rank, each part without and with the scenario."""
    base, what = record["baseline"], record["scenario"]
    lines = [f"what-if: without the scenario -> with it ({base['status']} -> {what['status']})"]
    for who in ("slowest", "median"):
        ranks = f" (rank {base[who]['rank']} -> {what[who]['rank']})" if base[who]["rank"] is not None else ""
        label = f"{who} rank{ranks}"
        for name, key in PARTS:
            if key in base[who] and key in what[who]:
                before, after = base[who][key], what[who][key]
                lines.append(f"  {label:<28} {name:<13} {_us(before)} -> {_us(after)}  {_change(before, after)}")
                label = ""
    return lines


def _us(ns: float) -> str:
    return f"{ns / 1e3:10,.3f} us"


def _change(before: float, after: float) -> str:
    diff = after - before
    share = f" ({100 * diff / before:+.1f}%)" if before else ""
    return f"{diff / 1e3:+,.3f} us{share}"
