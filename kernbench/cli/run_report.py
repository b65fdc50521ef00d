"""The report of ``kernbench run``: one JSON record with every SIP, and a text summary that stays short at scale.

Text output grows with the number of distinct outcomes, not of SIPs: SIPs whose status, error and checks agree
are shown once, labelled ``sip0,sip2,sip5-sip9 (7 SIPs)``, with their metrics merged (one value if they agree, a
min..max range of numbers, or a count of distinct values). A one-SIP run, or ``--verbose``, shows every SIP's own
block with its phase table.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from kernbench.cli.bench_loader import BenchError, available, describe
from kernbench.cli.bench_params import read_declared, summary
from kernbench.cli.labels import count, sip_set
from kernbench.topology import Topology

JSON_DIGITS = 6
"""Floats in JSON are rounded to 1e-6 (ns: femtoseconds), which hides float noise like 69767.89999999998."""

MAX_GROUPS = 10
"""Text shows at most this many failure lines and outcome blocks; ``--verbose`` and ``--json`` show every SIP."""

PASS, FAIL = "PASS", "FAIL"
Result = dict[str, Any]


def group_sips(results: list[Result], key: Callable[[Result], Hashable]) -> list[tuple[list[int], list[Result]]]:
    """Results with equal ``key`` together, as (SIPs, results); the biggest group first, then by first SIP."""
    groups: dict[Hashable, list[Result]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    ordered = sorted(groups.values(), key=lambda rs: (-len(rs), rs[0]["sip"]))
    return [([r["sip"] for r in rs], rs) for rs in ordered]


def failure_groups(results: list[Result]) -> list[tuple[list[int], str]]:
    """Each distinct error of the failing SIPs once, with the SIPs that raised it."""
    failed = [r for r in results if r["status"] != PASS]
    return [(sips, rs[0]["error"]) for sips, rs in group_sips(failed, lambda r: r["error"])]


def make_report(bench: str, results: list[Result], *, sips: list[int], ranks: int, wall_s: float) -> dict[str, Any]:
    """The JSON record every bench prints: ``bench status sim_latency_ns sips ranks wall_s error results``.

    ``sim_latency_ns`` is the slowest SIP's; ``error`` is None on PASS, else each distinct error once with the SIPs
    that raised it (``sip3-sip99 (97 SIPs): ValueError: ...; sip1: ...``).
    """
    failures = failure_groups(results)
    return {
        "bench": bench,
        "status": FAIL if failures else PASS,
        "sim_latency_ns": max(r["sim_latency_ns"] for r in results),
        "sips": list(sips),
        "ranks": ranks,
        "wall_s": wall_s,
        "error": "; ".join(f"{sip_set(s)}: {error}" for s, error in failures) if failures else None,
        "results": results,
    }


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, JSON_DIGITS) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def json_line(report: dict[str, Any]) -> str:
    return json.dumps(_clean(report))


# -- text ----------------------------------------------------------------------------------------------------------


def text_lines(
    report: dict[str, Any],
    topo: Topology,
    device: str,
    module: ModuleType,
    ranks: int,
    verbose: bool = False,
    params: dict[str, Any] | None = None,
) -> list[str]:
    """A header (status counts, latency spread over SIPs, each distinct error once with its SIPs), then one block
    per SIP when the run had one SIP or ``verbose``, else one block per distinct outcome that has checks or
    metrics to show (an error alone is said in the header already)."""
    results = report["results"]
    doc = (module.__doc__ or "").strip().splitlines()
    lines = [
        f"kernbench run {report['bench']}: {report['status']}",
        *([f"  {doc[0].strip()}"] if doc else []),
        f"  topology     {topo.source}: {count(topo.sip_count, 'SIP')}, {count(topo.cubes_per_sip, 'cube')} "
        f"per SIP, {count(topo.pes_per_cube, 'PE')} per cube",
        f"  device       {device}: {sip_set(report['sips'])}, {count(ranks, 'rank')}",
        *([f"  params       {summary(params)}"] if params else []),
        *_spread(results),
        f"  wall         {report['wall_s']:.2f} s",
        *_failure_lines(results),
    ]
    if verbose or len(results) == 1:
        for r in results:
            lines += ["", *_sip_lines(r)]
        return lines
    groups = [(sips, rs) for sips, rs in group_sips(results, _outcome) if any(r["checks"] or r["metrics"] for r in rs)]
    for sips, rs in groups[:MAX_GROUPS]:
        lines += ["", *_group_lines(sips, rs)]
    lines += [
        "",
        *_more(groups, "outcome"),
        "(SIPs with the same status, error and checks are shown together; --verbose shows each SIP)",
    ]
    return lines


def _outcome(r: Result) -> Hashable:
    return r["status"], r["error"], tuple(r["checks"].items())


def _spread(results: list[Result]) -> Iterator[str]:
    if len(results) == 1:
        yield f"  sim latency  {_ns(results[0]['sim_latency_ns'])}"
        return
    statuses = Counter(r["status"] for r in results)
    yield "  status       " + ", ".join(f"{statuses[s]} {s}" for s in (PASS, FAIL) if statuses[s])
    latencies = [r["sim_latency_ns"] for r in results]
    slowest = max(results, key=lambda r: r["sim_latency_ns"])
    yield (
        f"  sim latency  max {_ns(slowest['sim_latency_ns'])} on sip{slowest['sip']} (the slowest SIP), "
        f"median {statistics.median(latencies):,.2f} ns, min {min(latencies):,.2f} ns"
    )


def _failure_lines(results: list[Result]) -> Iterator[str]:
    groups = failure_groups(results)
    for i, (sips, error) in enumerate(groups[:MAX_GROUPS]):
        yield f"  {'error' if i == 0 else '':<12} {sip_set(sips)}: {error}"
    yield from (f"  {'':<12} {line}" for line in _more(groups, "error"))


def _more(groups: list[tuple[list[int], Any]], noun: str) -> Iterator[str]:
    rest = groups[MAX_GROUPS:]
    if rest:
        sips = sum(len(s) for s, _ in rest)
        yield f"... {count(len(rest), 'more ' + noun)} on {count(sips, 'SIP')} (--verbose or --json shows them)"


def _group_lines(sips: list[int], results: list[Result]) -> Iterator[str]:
    """Like `_sip_lines` for SIPs that share status, error and checks: latency range, merged metrics (the error is
    in the header, under the same label)."""
    first = results[0]
    lo, hi = (f(r["sim_latency_ns"] for r in results) for f in (min, max))
    latency = _ns(lo) if lo == hi else f"{lo:,.2f} .. {hi:,.2f} ns"
    yield f"{sip_set(sips)}: {first['status']}, sim latency {latency}"
    if first["checks"]:
        yield "  checks:  " + _checks(first["checks"])
    keys = dict.fromkeys(k for r in results for k in r["metrics"])
    if keys:
        yield "  metrics: " + "  ".join(f"{k}={_merged([r['metrics'].get(k) for r in results])}" for k in keys)


def _merged(values: list[Any]) -> str:
    """One value if all agree, ``min..max`` if all are numbers, else how many distinct values there are."""
    distinct = {json.dumps(v, sort_keys=True) for v in values}
    if len(distinct) == 1:
        return _value(values[0])
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return f"{_value(min(values))}..{_value(max(values))}"
    return f"({len(distinct)} distinct values)"


def _checks(checks: dict[str, bool]) -> str:
    return "  ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in checks.items())


def _sip_lines(r: dict[str, Any]) -> Iterator[str]:
    yield f"sip{r['sip']} (rank {r['rank']}): {r['status']}, sim latency {_ns(r['sim_latency_ns'])}"
    if r["error"]:
        yield f"  error: {r['error']}"
    if r["checks"]:
        yield "  checks:  " + _checks(r["checks"])
    if r["metrics"]:
        yield "  metrics: " + "  ".join(f"{k}={_value(v)}" for k, v in r["metrics"].items())
    if not r["phases"]:
        return
    widths = (20, 6, 14, 7, 16, 12)
    yield "  " + _row(("phase", "count", "span ns", "share", "latency sum ns", "bytes"), widths)
    total = r["sim_latency_ns"]
    for p in r["phases"]:
        share = f"{p['span_ns'] / total:.1%}" if total > 0 else "-"
        yield "  " + _row(
            (p["phase"], str(p["count"]), f"{p['span_ns']:,.2f}", share, f"{p['latency_ns']:,.2f}", f"{p['nbytes']:,}"),
            widths,
        )
        if "kernel" in p:
            yield "    " + _kernel_line(p["kernel"])


def _kernel_line(k: dict[str, Any]) -> str:
    tflops = k["flops"] / k["exec_ns"] / 1000 if k["exec_ns"] > 0 else 0.0
    busy = " ".join(f"{unit} {ns:,.0f}" for unit, ns in k["busy_ns"].items())
    return (
        f"{k['pes']} PEs, exec {k['exec_ns']:,.2f} ns, {k['flops']:.4g} flops ({tflops:.2f} TFLOP/s), "
        f"DMA {k['dma_bytes']:,} B; busy ns summed over PEs: {busy}"
    )


def _ns(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns:,.2f} ns ({ns / scale:.3f} {unit})"
    return f"{ns:,.2f} ns"


def _value(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.6g}"
    return json.dumps(v) if isinstance(v, dict | list) else str(v)


def _row(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    """The first cell left-aligned (a name), the others right-aligned (numbers)."""
    parts = [f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
    return " ".join(parts).rstrip()


# -- hardware statistics (--hw-stats) ----------------------------------------------------------------------------

BUSIEST_LINKS = 5


def hw_lines(stats: dict[str, Any]) -> list[str]:
    """The five busiest links (busy share of the simulated span, bytes, peak queue), then the range of HBM slice
    and PE unit utilisation over the slices and PEs used: a few lines whatever the number of SIPs."""
    links = sorted(stats["links"], key=lambda link: (-link["busy_ns"], link["link"]))[:BUSIEST_LINKS]
    width = max((len(link["link"]) for link in links), default=0)
    window = stats.get("window")
    if window is None:
        where = f"simulated span {stats['span_ns']:,.2f} ns"
    elif not window["sips"]:
        return [f"hw stats: phase {window['phase']}: no SIP ran it (the phase table names the phases), nothing counted"]
    else:
        where = (
            f"phase {window['phase']} on {count(len(window['sips']), 'SIP')} (each SIP's own span of it, the longest "
            f"{stats['span_ns']:,.2f} ns)"
        )
    lines = [f"hw stats: {where}; busiest links (busy share, bytes, peak queue):"]
    lines += [
        f"  {link['link']:<{width}} {100 * link['utilisation']:5.1f}%  {link['bytes']:,} B  "
        f"peak queue {link['peak_queue']}"
        for link in links
    ]
    hbm = stats["hbm"]
    if hbm:
        lines.append(
            f"HBM slices: {len(hbm)} used, utilisation {_range([s['utilisation'] for s in hbm])}, "
            f"{sum(s['read_bytes'] for s in hbm):,} B read, {sum(s['written_bytes'] for s in hbm):,} B "
            "written"
        )
    pes = stats["pes"]
    if pes:
        units = ", ".join(f"{unit} {_range([p['utilisation'][unit] for p in pes])}" for unit in pes[0]["utilisation"])
        lines.append(f"PEs: {count(len(pes), 'PE')} ran kernels, busy share per unit {units}")
    return lines


def _range(shares: list[float]) -> str:
    lo, hi = min(shares), max(shares)
    return f"{100 * lo:.1f}%" if f"{lo:.3f}" == f"{hi:.3f}" else f"{100 * lo:.1f}%..{100 * hi:.1f}%"


# -- the --stats-json file ------------------------------------------------------------------------------------------

STATS_NOTES = {
    "units": "*_ns: simulated nanoseconds; *_s: wall-clock (or, *_cpu_s, CPU) seconds of this process's run",
    "rounds": "sync.rounds and ranks[].rounds: the engine's synchronization rounds (every rank takes part in each "
    "round); totals.rank_rounds: rounds summed over ranks (rounds x ranks)",
}
"""The ``notes`` of a ``--stats-json`` file: what its units and its two kinds of round count are."""


def stats_file_text(head: dict[str, Any], stats: dict[str, Any]) -> str:
    """The ``--stats-json`` file: ``head`` (what ran), then `pdes.Simulation.stats` with units in the names of
    simulated times (``sim_time_ns``, ``lookahead_ns``: pdes counts in the model's unit, here ns) and the sum of
    the ranks' rounds named ``rank_rounds``, apart from the run's ``rounds`` (`STATS_NOTES`)."""
    totals = {("rank_rounds" if k == "rounds" else k): v for k, v in stats["totals"].items()}
    sync = {_with_ns(k): v for k, v in stats["sync"].items()}
    ranks = [{_with_ns(k): v for k, v in r.items()} for r in stats["ranks"]]
    record = {**head, **stats, "totals": totals, "sync": sync, "ranks": ranks, "notes": STATS_NOTES}
    return json.dumps(record, indent=1) + "\n"


def _with_ns(key: str) -> str:
    return f"{key}_ns" if key in ("sim_time", "lookahead") else key


# -- more lines: synchronization, projection, the list of benches ------------------------------------------------


def after_wall(lines: list[str]) -> int:
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
    """``projected: 4 ranks on 4 cores 1.23 s (serial 0.20 + critical path 0.85 + sync 0.05 (150 rounds, 20 us
    exchange + 40 us reduction each) + MPI start 0.13); measured in one process 3.10 s: 2.5x; from CPU time (cores
    to itself) 0.98 s``: the terms add up to the projection; a round's costs are `pdes.projection`'s, in us."""
    speedup = p["speedup"]
    return (
        f"projected: {count(p['ranks'], 'rank')} on {p['ranks']} cores {p['projected_wall_s']:.2f} s "
        f"(serial {p['serial_s'] + p['per_rank_other_s']:.2f} + critical path {p['critical_path_s']:.2f} + sync "
        f"{p['sync_s']:.2f} ({p['rounds']:,} rounds, {1e6 * p['round_cost_s']:.3g} us exchange + "
        f"{1e6 * p['reduction_cost_s']:.3g} us reduction each) + MPI start {p['start_s']:.2f}); measured in one "
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
    """Each bench with its description and parameters; no bench at all is a `BenchError` (exit 2)."""
    benches = available(dirs)
    if not benches:
        raise BenchError("--list: no benches found (searched: " + (", ".join(str(d) for d in dirs) or "nothing") + ")")
    width = max(len(name) for name in benches)
    lines = []
    for name, path in benches.items():
        lines.append(f"{name:<{width}}  {describe(path)}")
        params = read_declared(path)
        if params:
            lines.append(" " * (width + 2) + "--set " + summary({k: default for k, (default, _) in params.items()}))
    return lines
