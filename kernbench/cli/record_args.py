"""``kernbench run --hw-stats PATH``: what a run records, and the files it writes from it (README, Timeline traces
and hardware statistics).

Options are checked before anything runs (a `BenchError`: one line, exit 2). The files are written by rank 0
only, from the records every rank gathered, each to a temporary file renamed into place: a run that fails leaves
no half-written file.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernbench.cli.bench_loader import BenchError
from kernbench.engine.hw_stats import hw_stats, stats_csv
from kernbench.engine.recorder import Recording
from kernbench.topology import Topology

STATS_FORMATS = (".json", ".csv")


def add_record_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hw-stats", metavar="PATH",
                   help="write hardware statistics (JSON, or CSV for a .csv PATH): per link bytes, busy time, "
                   "utilisation and peak queue, per HBM slice bytes read and written, per PE busy time by unit; the "
                   "text report adds the busiest links and the utilisation ranges")


def check_record_options(args: argparse.Namespace, unwritable: Callable[[str], str | None]) -> None:
    """What can be checked without the topology: the path and its format."""
    problem = unwritable(args.hw_stats) if args.hw_stats is not None else None
    if problem:
        raise BenchError(f"--hw-stats {args.hw_stats}: {problem}")
    if args.hw_stats is not None and Path(args.hw_stats).suffix.lower() not in STATS_FORMATS:
        raise BenchError(f"--hw-stats {args.hw_stats}: expected a .json or .csv file name")


def recording_of(args: argparse.Namespace, topo: Topology) -> Recording | None:
    """What the run records, or None."""
    return Recording(stats=True) if args.hw_stats is not None else None


def write_outputs(args: argparse.Namespace, recording: Recording, records: list[dict[str, Any]]) -> dict | None:
    """Rank 0: write the statistics asked for; returns them (None without --hw-stats)."""
    if args.hw_stats is None:
        return None
    stats = hw_stats(records)
    text = stats_csv(stats) if Path(args.hw_stats).suffix.lower() == ".csv" else json.dumps(_rounded(stats)) + "\n"
    write_atomic(args.hw_stats, text)
    return stats


def write_atomic(path: str, text: str) -> None:
    """``text`` to ``path`` through a temporary file in the same directory and a rename: all or nothing."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rounded(value: Any) -> Any:
    """Floats rounded to 1e-6, as the run report's JSON."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
