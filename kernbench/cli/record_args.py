"""``kernbench run --trace PATH --trace-sips 0-3 --trace-detail ops --hw-stats PATH --hw-stats-window PHASE``: what a
run records, and the files it writes from it (docs/reference/cli.md, Timeline traces and hardware statistics;
docs/adr/0015-timeline-traces.md).

Options are checked before anything runs (a `BenchError`: one line, exit 2; the paths themselves:
`kernbench.cli.output_files`). The files are written by rank 0 only, from the records every rank gathered.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kernbench.cli.bench_loader import BenchError
from kernbench.cli.output_files import Output, Writer, text_writer
from kernbench.engine.hw_stats import hw_stats, stats_csv
from kernbench.engine.recorder import DETAILS, Recording
from kernbench.engine.trace_file import trace_json
from kernbench.topology import Topology

DEFAULT_DETAIL = "ops"
STATS_FORMATS = (".json", ".csv")


def add_record_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trace",
        metavar="PATH",
        help="write a timeline trace (Chrome trace-event JSON: open it in ui.perfetto.dev or "
        "chrome://tracing): per SIP host phases and requests, per PE kernel spans and their operations, "
        "IPCQ sends joined to their receives, link busy intervals at --trace-detail links",
    )
    p.add_argument("--trace-sips", metavar="LIST", help="SIPs the trace shows, e.g. 0-3,8 (default: all)")
    p.add_argument(
        "--trace-detail",
        choices=DETAILS,
        metavar="|".join(DETAILS),
        help=f"kernels: kernel spans, host phases and requests, IPCQ flows; ops: also DMA, GEMM, MATH and "
        f"MMU operations; links: also link busy intervals (default: {DEFAULT_DETAIL})",
    )
    p.add_argument(
        "--hw-stats",
        metavar="PATH",
        help="write hardware statistics (JSON, or CSV for a .csv PATH): per link bytes, busy time, "
        "utilisation and peak queue, per HBM slice bytes read and written, per PE busy time by unit; the "
        "text report adds the busiest links and the utilisation ranges",
    )
    p.add_argument(
        "--hw-stats-window",
        metavar="PHASE",
        help="with --hw-stats: count only what each SIP does during host phase PHASE, a name of the phase table "
        "(-v): kernel:all_reduce for the collective, say, without the set-up copies around it",
    )


def check_record_options(args: argparse.Namespace) -> None:
    """What can be checked without the topology: formats, options that need ``--trace``."""
    if args.trace is None:
        for flag, value in (("--trace-sips", args.trace_sips), ("--trace-detail", args.trace_detail)):
            if value is not None:
                raise BenchError(f"{flag} {value}: needs --trace PATH")
    if args.hw_stats_window is not None and args.hw_stats is None:
        raise BenchError(f"--hw-stats-window {args.hw_stats_window}: needs --hw-stats PATH")
    if args.hw_stats is not None and Path(args.hw_stats).suffix.lower() not in STATS_FORMATS:
        raise BenchError(f"--hw-stats {args.hw_stats}: expected a .json or .csv file name")


def recording_of(args: argparse.Namespace, topo: Topology) -> Recording | None:
    """What the run records, or None; ``--trace-sips`` naming a SIP the topology does not have is a `BenchError`."""
    if args.trace is None and args.hw_stats is None:
        return None
    sips = None
    if args.trace is not None:
        sips = (
            frozenset(range(topo.sip_count)) if args.trace_sips is None else parse_sips(args.trace_sips, topo.sip_count)
        )
    return Recording(
        trace_sips=sips,
        detail=args.trace_detail or DEFAULT_DETAIL,
        stats=args.hw_stats is not None,
        window=args.hw_stats_window,
    )


def parse_sips(text: str, sip_count: int) -> frozenset[int]:
    """``0-3,8`` -> {0, 1, 2, 3, 8}; each SIP must exist."""
    sips: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise BenchError(f"--trace-sips {text}: expected SIP numbers and ranges like 0-3,8") from None
        if not 0 <= first <= last < sip_count:
            raise BenchError(
                f"--trace-sips {text}: {part.strip()} is not within sip 0..{sip_count - 1} (or a range low-high)"
            )
        sips.update(range(first, last + 1))
    return frozenset(sips)


def recorded_outputs(
    outputs: dict[str, Output], recording: Recording, records: list[dict[str, Any]]
) -> tuple[dict | None, list[tuple[Output, Writer]]]:
    """Rank 0: the statistics (None without --hw-stats), and the trace and statistics files to write."""
    items = []
    if "--trace" in outputs:
        items.append((outputs["--trace"], text_writer(trace_json(records, recording.detail))))
    stats = None
    if "--hw-stats" in outputs:
        stats = hw_stats(records, recording.window)
        csv = Path(outputs["--hw-stats"].path).suffix.lower() == ".csv"
        text = stats_csv(stats) if csv else json.dumps(_rounded(stats)) + "\n"
        items.append((outputs["--hw-stats"], text_writer(text)))
    return stats, items


def _rounded(value: Any) -> Any:
    """Floats rounded to 1e-6, as the run report's JSON."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
