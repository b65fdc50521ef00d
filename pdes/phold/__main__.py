"""``python -m pdes.phold``: run PHOLD single-process, on virtual ranks, or under mpirun."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import PdesError, RemoteError
from ..progress import ProgressLine
from ..transport import launched_by_mpi
from .model import PholdParams, run_pdes, run_simpy


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pdes.phold", description=__doc__)
    ap.add_argument("--lps", type=int, default=64, help="number of LPs")
    ap.add_argument("--events-per-lp", type=int, default=8, help="initial events per LP")
    ap.add_argument("--remote", type=float, default=0.5, help="probability that an event goes to another LP")
    ap.add_argument("--lookahead", type=float, default=1.0, help="link latency = minimum delay")
    ap.add_argument("--mean", type=float, default=1.0, help="mean of the exponential extra delay")
    ap.add_argument("--until", type=float, default=200.0, help="simulated end time (events before it run)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", type=float, default=0.0, metavar="MICROSECONDS", help="CPU burnt per event")
    ap.add_argument("--sync", choices=("null", "window"), default="null")
    ap.add_argument("--engine", choices=("pdes", "simpy"), default="pdes")
    ap.add_argument("--ranks", type=int, default=None,
                    help="in-process virtual ranks (without mpirun only; default 1)")
    ap.add_argument("--partition", choices=("blocks", "round_robin"), default="blocks")
    ap.add_argument("--compare-simpy", action="store_true",
                    help="run plain SimPy and pdes in this process (--repeat times each, alternately) and print "
                         "the best events/s of each and their ratio")
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine for --compare-simpy")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of tables")
    ap.add_argument("--stats-json", metavar="PATH", help="write per-rank and per-LP statistics to PATH")
    return ap.parse_args(argv)


def _table(rows: list[tuple[str, object]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        params = PholdParams(args.lps, args.events_per_lp, args.remote, args.lookahead, args.mean,
                             args.seed, args.work)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.compare_simpy:
        if launched_by_mpi() or (args.ranks or 1) != 1 or args.engine != "pdes":
            print("phold: --compare-simpy runs both engines in one process, without mpirun, --ranks or --engine",
                  file=sys.stderr)
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
                print("phold: --ranks is for in-process runs; under mpirun use -n", file=sys.stderr)
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
    line = {"digest": dig, "events": events, "wall_s": round(wall, 6),
            "events_per_s": round(events / wall, 1) if wall > 0 else None,
            "real_msgs": real_msgs, "null_msgs": null_msgs, "ranks": ranks, "lps": params.lps,
            "sync": args.sync if args.engine == "pdes" else None, "engine": args.engine,
            "work_us": params.work_us}
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
