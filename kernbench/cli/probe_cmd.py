"""``kernbench probe``: run predefined transfers on an idle system and show where their time goes.

The measuring is in `kernbench.cli.probe_cases`; this module wires the arguments and formats the rows, as
aligned text tables or as JSON lines. Under mpirun every rank measures (the engine needs them all) but only
rank 0 prints, so the output is the same as a single-process run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from kernbench.cli.exit_codes import PASS
from kernbench.cli.labels import count
from kernbench.cli.output import finish
from kernbench.cli.output_files import check_outputs
from kernbench.cli.plots import bandwidth_plot, check_plot
from kernbench.cli.probe_cases import (
    CASE_NAMES,
    INITIATOR_SIP,
    SUMMARY_BYTES,
    SWEEP_BYTES,
    TRACE_BYTES,
    check_case_name,
    measure,
    plan,
)
from kernbench.cli.system_args import add_system_args, load_system, topology_input, warn_idle_ranks
from kernbench.cli.user_errors import agree_on_setup, on_first_rank
from kernbench.engine import Engine
from kernbench.topology import Topology

JSON_DIGITS = 6
"""Floats in JSON lines are rounded to 1e-6 (ns: femtoseconds), which hides float noise like 69767.89999999998."""


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="measure predefined transfers: latency breakdown, bandwidth sweep, route traces")
    add_system_args(p)
    p.add_argument("--case", metavar="NAME", help=f"run one case only: {', '.join(CASE_NAMES)}")
    p.add_argument("--json", action="store_true", help="print JSON lines (summary, sweep, hop, note records)")
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="draw the sweep's bandwidth against transfer size, one curve per case (needs matplotlib)",
    )


def prepare(args: argparse.Namespace) -> tuple[Topology, list, list[dict[str, str]]]:
    """The topology and the planned cases; a user error is a `ProbeError` or `TopologyError`."""
    check_case_name(args.case)  # before loading anything: a typo should not wait for the topology
    if args.plot is not None:
        check_plot(args.plot)
    topo = load_system(args)
    return (topo, *plan(topo, args.case))


def run(args: argparse.Namespace) -> int:
    topo, cases, notes = agree_on_setup(lambda: prepare(args))  # under mpirun: all ranks or none
    outputs = on_first_rank(lambda: check_outputs({"--plot": args.plot}, topology_input(args)))
    eng = Engine(topo)  # MPI transport when launched by mpirun
    warn_idle_ranks(eng, topo)
    rows = measure(eng, cases)

    def report() -> int:  # every rank has the same rows; one prints
        lines = json_lines(topo, rows, notes) if args.json else text_lines(topo, rows, notes)
        plots = [(outputs["--plot"], lambda fh: plot(fh, topo, rows))] if "--plot" in outputs else []
        return finish("\n".join(lines), plots, PASS)

    return on_first_rank(report)


def plot(out: BinaryIO, topo: Topology, rows: dict[str, list[dict]]) -> None:
    """The sweep's effective bandwidth against transfer size, one curve per case."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for r in rows["sweep"]:
        curves.setdefault(r["case"], []).append((r["nbytes"], r["bandwidth_gbs"]))
    bandwidth_plot(
        out,
        curves,
        title=f"kernbench probe ({Path(topo.source).name}): one transfer at a time from sip{INITIATOR_SIP}",
        ylabel="effective bandwidth (GB/s)",
    )


# -- JSON lines --------------------------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, JSON_DIGITS)
    return value


def json_lines(topo: Topology, rows: dict[str, list[dict]], notes: list[dict[str, str]]) -> list[str]:
    """One JSON object per line: a header, then notes, summary, sweep and hop records (all without wall time)."""
    records: list[dict[str, Any]] = [
        {
            "type": "probe",
            "topology": topo.source,
            "sips": topo.sip_count,
            "initiator_sip": INITIATOR_SIP,
            "summary_nbytes": SUMMARY_BYTES,
            "sweep_nbytes": list(SWEEP_BYTES),
            "trace_nbytes": TRACE_BYTES,
        }
    ]
    records += [{"type": "note", **note} for note in notes]
    for kind, key in (("summary", "summary"), ("sweep", "sweep"), ("hop", "hops")):
        records += [{"type": kind, **row} for row in rows[key]]
    return [json.dumps({k: _clean(v) for k, v in record.items()}) for record in records]


# -- text ------------------------------------------------------------------------------------------------------


def _size(nbytes: int) -> str:
    """4K, 64K, 1M: short enough for a column header (KiB / MiB)."""
    return f"{nbytes // (1 << 20)}M" if nbytes >= 1 << 20 else f"{nbytes // 1024}K"


def text_lines(topo: Topology, rows: dict[str, list[dict]], notes: list[dict[str, str]]) -> list[str]:
    """Aligned tables for an 100-column terminal: cases, summary, sweep (GB/s and utilization), route traces."""
    return [*_header(topo, notes), *_cases(rows), *_summary(rows), *_sweep(rows), *_traces(rows)]


def _header(topo: Topology, notes: list[dict[str, str]]) -> Iterator[str]:
    yield (
        f"kernbench probe: {topo.source}: {count(topo.sip_count, 'SIP')}, "
        f"{count(topo.cubes_per_sip, 'cube')} per SIP, {count(topo.pes_per_cube, 'PE')} per cube"
    )
    yield f"Idle system; requests run one at a time from the host worker of sip{INITIATOR_SIP}. Times in ns."
    for note in notes:
        yield f"note: {note['case']}: {note['message']}"


def _cases(rows: dict[str, list[dict]]) -> Iterator[str]:
    yield ""
    yield "Cases (bottleneck: the slowest link on the path; utilization = effective GB/s / its GB/s)"
    for r in rows["summary"]:
        yield f"  {r['case']:<18}  {r['route']:<40}  {r['bottleneck']} {r['bottleneck_gbs']:.2f} GB/s"


def _summary(rows: dict[str, list[dict]]) -> Iterator[str]:
    yield ""
    yield (
        f"Summary: one {SUMMARY_BYTES // 1024} KiB transfer per case "
        "(latency = command + overhead + wire + queue + drain)"
    )
    cols = ("case", "latency", "command", "overhead", "wire", "queue", "drain", "GB/s", "util")
    widths = (18, 10, 9, 9, 9, 7, 10, 8, 7)
    yield _row(cols, widths)
    for r in rows["summary"]:
        values = [
            r[k]
            for k in ("latency_ns", "command_ns", "overhead_ns", "wire_ns", "queueing_ns", "drain_ns", "bandwidth_gbs")
        ]
        yield _row([r["case"], *(f"{v:.2f}" for v in values), f"{r['utilization']:.1%}"], widths)


def _sweep(rows: dict[str, list[dict]]) -> Iterator[str]:
    by_case: dict[str, dict[int, dict]] = {}
    for r in rows["sweep"]:
        by_case.setdefault(r["case"], {})[r["nbytes"]] = r
    widths = (18, *(7 for _ in SWEEP_BYTES))
    head = ("case", *(_size(n) for n in SWEEP_BYTES))
    for title, fmt in (
        ("effective bandwidth, GB/s", lambda r: f"{r['bandwidth_gbs']:.1f}"),
        ("utilization of the bottleneck, %", lambda r: f"{100 * r['utilization']:.1f}"),
    ):
        yield ""
        yield f"Bandwidth sweep, {SWEEP_BYTES[0] // 1024} KiB to {SWEEP_BYTES[-1] >> 20} MiB per transfer: {title}"
        yield _row(head, widths)
        for case, sizes in by_case.items():
            yield _row([case, *(fmt(sizes[n]) for n in SWEEP_BYTES)], widths)


def _traces(rows: dict[str, list[dict]]) -> Iterator[str]:
    by_case: dict[str, list[dict]] = {}
    for r in rows["hops"]:
        by_case.setdefault(r["case"], []).append(r)
    latency = {r["case"]: r["latency_ns"] for r in rows["sweep"] if r["nbytes"] == TRACE_BYTES}
    widths = (3, 30, 12, 12, 10, 8)
    for case, hops in by_case.items():
        yield ""
        yield f"Route trace: {case}, {TRACE_BYTES // 1024} KiB, latency {latency[case]:.2f} ns (cum = tail_out - start)"
        yield _row(("#", "link / unit", "head_in", "tail_out", "cum", "queued"), widths, align="><")
        for h in hops:
            times = (f"{h[k]:.2f}" for k in ("head_in_ns", "tail_out_ns", "cumulative_ns", "queued_ns"))
            yield _row([str(h["hop"]), h["link"], *times], widths, align="><")


def _row(cells: tuple[str, ...] | list[str], widths: tuple[int, ...], align: str = "<") -> str:
    """Cells padded to ``widths``; ``align`` aligns the first cells (names: "<"), the rest are numbers (">")."""
    sides = align.ljust(len(widths), ">")
    parts = [f"{c:{side}{w}}" for c, w, side in zip(cells, widths, sides, strict=True)]
    return " ".join(parts).rstrip()
