"""``python -m pdes.phold``: run PHOLD single-process, on virtual ranks, or under mpirun."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ..errors import ModelError, PdesError, RemoteError
from ..model import horizon_message, time_limit
from ..progress import ProgressLine
from ..sync import SYNC_MODES
from ..transport import launched_by_mpi, launcher_rank
from .model import PholdParams, build_model, run_pdes, run_simpy


class _Parser(argparse.ArgumentParser):
    """One line per bad command line, printed by the first rank of an mpirun job only."""

    def error(self, message: str) -> NoReturn:
        _say(f"{self.prog}: error: {message}")
        raise SystemExit(2)


def _say(line: str) -> None:
    """Print ``line`` on stderr once per job (launcher rank 0; MPI is not initialised yet)."""
    if launcher_rank() == 0:
        print(line, file=sys.stderr, flush=True)


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    rule = f"an integer >= {low}" if high is None else f"an integer in [{low}, {'2**64' if high == 2**64 else high})"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}") from None
        if value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    return parse


def _number(rule: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}") from None
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    return parse


def _writable_file(text: str) -> str:
    """A file we can create or overwrite, checked before the run rather than after it."""
    path = Path(text)
    parent = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory")
    if parent.exists() and not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {str(parent)!r} is not a directory")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: directory {str(parent)!r} does not exist")
    try:  # try it: os.access says yes to root where nobody can write (/proc, a read-only file system)
        if path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            path.unlink()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {(exc.strerror or str(exc)).lower()}") from None
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = _Parser(prog="python -m pdes.phold", description=__doc__)
    ap.add_argument("--lps", type=_integer(1), default=64, help="number of LPs")
    ap.add_argument("--events-per-lp", type=_integer(0), default=8, help="initial events per LP")
    ap.add_argument(
        "--remote",
        type=_number("a number in [0, 1]", lambda x: 0 <= x <= 1),
        default=0.5,
        help="probability that an event goes to another LP",
    )
    ap.add_argument(
        "--lookahead",
        type=_number("a finite number > 0", lambda x: x > 0),
        default=1.0,
        help="link latency = minimum delay",
    )
    ap.add_argument(
        "--mean",
        type=_number("a finite number >= 0", lambda x: x >= 0),
        default=1.0,
        help="mean of the exponential extra delay",
    )
    ap.add_argument(
        "--until",
        type=_number("a finite number >= 0 (PHOLD never runs out of events)", lambda x: x >= 0),
        default=200.0,
        help="simulated end time (events before it run)",
    )
    ap.add_argument("--seed", type=_integer(0, 2**64), default=7)
    ap.add_argument(
        "--work",
        type=_number("a finite number >= 0", lambda x: x >= 0),
        default=0.0,
        metavar="MICROSECONDS",
        help="CPU burnt per event",
    )
    ap.add_argument("--sync", choices=tuple(SYNC_MODES), default="null")
    ap.add_argument("--engine", choices=("pdes", "simpy"), default="pdes")
    ap.add_argument(
        "--ranks", type=_integer(1), default=None, help="in-process virtual ranks (without mpirun only; default 1)"
    )
    ap.add_argument("--partition", choices=("blocks", "round_robin"), default="blocks")
    ap.add_argument(
        "--compare-simpy",
        action="store_true",
        help="run plain SimPy and pdes in this process (--repeat times each, alternately) and print "
        "the best events/s of each and their ratio",
    )
    ap.add_argument("--repeat", type=_integer(1), default=3, help="runs per engine for --compare-simpy")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of tables")
    ap.add_argument(
        "--stats-json", metavar="PATH", type=_writable_file, help="write per-rank and per-LP statistics to PATH"
    )
    args = ap.parse_args(argv)
    horizon = time_limit(args.lookahead)
    if args.until > horizon:  # t + lookahead == t before --until: PHOLD (and the synchronizer) would stall
        if args.remote > 0 and args.lps > 1:
            model = build_model(PholdParams(lps=args.lps, lookahead=args.lookahead, remote=args.remote))
            try:
                model.check_horizon(args.until)
            except ModelError as exc:
                ap.error(f"argument --lookahead: too small for --until {args.until!r}: {exc}")
        ap.error(
            f"argument --lookahead: too small for --until {args.until!r}: "
            + horizon_message("every PHOLD event's minimum delay", args.lookahead, args.until)
        )
    return args


def _table(rows: list[tuple[str, object]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit status (2 for a bad command line, with one line on stderr)."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, or a bad command line already reported
        return exc.code if isinstance(exc.code, int) else 2
    params = PholdParams(args.lps, args.events_per_lp, args.remote, args.lookahead, args.mean, args.seed, args.work)
    if args.compare_simpy:
        if launched_by_mpi() or (args.ranks or 1) != 1 or args.engine != "pdes":
            _say("phold: --compare-simpy runs both engines in one process, without mpirun, --ranks or --engine")
            return 2
        from .bench import compare_simpy, compare_table

        lines = compare_simpy(params, args.until, args.repeat, args.sync)
        for line in lines:
            print(json.dumps(line), flush=True)
        if not args.json:
            print("\n" + compare_table(lines))
        return 0
    rank, ranks, stats = 0, 1, None
    null_msgs = 0
    if args.engine == "simpy":
        dig, events, wall = run_simpy(params, args.until)
        real_msgs = None
    else:
        options = {"sync": args.sync, "partition": args.partition}
        if launched_by_mpi():
            from ..mpi import abort_on_uncaught_exception

            abort_on_uncaught_exception()
            options["transport"] = "mpi"
            if args.ranks is not None:
                _say("phold: --ranks is for in-process runs; under mpirun use -n")
                return 2
        else:
            options["transport"] = "local"
            options["ranks"] = args.ranks or 1
        progress = ProgressLine(enabled=False if args.json else None)
        try:
            dig, events, wall, result = run_pdes(params, args.until, progress=progress, **options)
        except RemoteError as exc:
            progress.close()
            print(f"phold: aborted: {exc}", file=sys.stderr)
            return 1
        except PdesError as exc:
            progress.close()
            print(f"phold: {exc}", file=sys.stderr)
            return 1
        progress.close()
        stats = result.stats
        ranks = stats["totals"]["ranks"]
        real_msgs = stats["totals"]["real_msgs"]
        null_msgs = stats["totals"]["null_msgs"]
        if options["transport"] == "mpi":
            from ..mpi import MPI

            rank = MPI.COMM_WORLD.Get_rank()
    if rank != 0:
        return 0
    line = {
        "digest": dig,
        "events": events,
        "wall_s": round(wall, 6),
        "events_per_s": round(events / wall, 1) if wall > 0 else None,
        "real_msgs": real_msgs,
        "null_msgs": null_msgs,
        "ranks": ranks,
        "lps": params.lps,
        "sync": args.sync if args.engine == "pdes" else None,
        "engine": args.engine,
        "work_us": params.work_us,
    }
    if args.stats_json and stats is not None:
        with open(args.stats_json, "w") as fh:
            json.dump(stats, fh, indent=1)
    if args.json:
        print(json.dumps(line), flush=True)
        return 0
    ratio = null_msgs / (null_msgs + real_msgs) if real_msgs else 0.0
    print("PHOLD result")
    print(_table([(k, v) for k, v in line.items()] + [("null_ratio", f"{ratio:.3f}")]))
    if stats is not None:
        print("per rank")
        cols = ("rank", "lps", "events", "rounds", "reductions", "null_msgs", "remote_msgs_sent", "blocked_s", "wall_s")
        print("  " + "  ".join(f"{c:>16}" for c in cols))
        for r in stats["ranks"]:
            cells = [f"{r[c]:>16.3f}" if isinstance(r[c], float) else f"{r[c]:>16}" for c in cols]
            print("  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
