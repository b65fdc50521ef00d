"""PHOLD benchmark sweep: prints one JSON line per measurement, then a table.

Compares plain SimPy with pdes single-process (fine grain), and 1 process with
N MPI ranks at ``--work 0`` and ``--work 100`` for both sync modes. Each point
is the best of ``--repeat`` runs (the wall clock of the run phase only), and
every point must report the same digest as the reference or the sweep fails.

``--compare`` only measures the per-event overhead of the engine: plain SimPy
and pdes in one process, alternately, in this process (see
:func:`compare_simpy`), fine grain, printing the ratio of their events/s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..transport import LAUNCHER_VARS
from .model import PholdParams, run_pdes, run_simpy

COMMON = ["--lps", "64", "--events-per-lp", "8", "--remote", "0.5", "--lookahead", "1", "--mean", "1", "--seed", "7"]
FINE = ["--until", "200", "--work", "0"]
COARSE = ["--until", "50", "--work", "100"]


def phold(args: list[str], ranks: int | None, timeout: float = 600) -> dict:
    """One PHOLD run as a subprocess (under mpirun when ``ranks``); its JSON line."""
    mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or "mpirun"
    cmd = ([mpirun, "-n", str(ranks)] if ranks else []) + [sys.executable, "-m", "pdes.phold", *args, "--json"]
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"phold_bench: {' '.join(cmd)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best(args: list[str], ranks: int | None, repeat: int) -> dict:
    runs = [phold(args, ranks) for _ in range(repeat)]
    if len({r["digest"] for r in runs}) != 1:
        raise SystemExit(f"phold_bench: digests differ between repeats of {args}")
    return min(runs, key=lambda r: r["wall_s"])


def compare_simpy(params: PholdParams, until: float, repeat: int = 3, sync: str = "null") -> list[dict]:
    """Plain SimPy against pdes in one process, ``repeat`` runs each, alternately, in this process.

    Returns three JSON-ready dicts: the best SimPy run, the best pdes run and their ratio
    (pdes events/s over SimPy events/s). Both must give the same digest.
    """
    best_runs: dict[str, dict] = {}
    for _ in range(repeat):
        for engine in ("simpy", "pdes"):
            gc.collect()
            if engine == "simpy":
                dig, events, wall = run_simpy(params, until)
            else:
                dig, events, wall, _ = run_pdes(params, until, sync=sync, transport="local", ranks=1)
            run = {
                "bench": "phold_compare",
                "engine": engine,
                "digest": dig,
                "events": events,
                "wall_s": round(wall, 6),
                "events_per_s": round(events / wall, 1),
            }
            if engine not in best_runs or wall < best_runs[engine]["wall_s"]:
                best_runs[engine] = run
    simpy_run, pdes_run = best_runs["simpy"], best_runs["pdes"]
    if simpy_run["digest"] != pdes_run["digest"] or simpy_run["events"] != pdes_run["events"]:
        raise SystemExit(
            f"phold_bench: pdes gave {pdes_run['digest']}/{pdes_run['events']} events, "
            f"plain SimPy {simpy_run['digest']}/{simpy_run['events']}"
        )
    config = {
        "lps": params.lps,
        "events_per_lp": params.events_per_lp,
        "remote": params.remote,
        "lookahead": params.lookahead,
        "mean": params.mean,
        "seed": params.seed,
        "until": until,
        "sync": sync,
        "repeat": repeat,
    }
    ratio = {
        "bench": "phold_compare",
        "ratio_pdes_over_simpy": round(pdes_run["events_per_s"] / simpy_run["events_per_s"], 3),
        **config,
    }
    return [simpy_run, pdes_run, ratio]


def compare_table(lines: list[dict]) -> str:
    simpy_run, pdes_run, ratio = lines
    rows = [f"{'engine':<22} {'events':>8} {'wall s':>8} {'events/s':>10}"]
    rows += [
        f"{r['engine']:<22} {r['events']:>8} {r['wall_s']:>8.3f} {r['events_per_s']:>10.0f}"
        for r in (simpy_run, pdes_run)
    ]
    rows.append(
        f"pdes / plain SimPy: {ratio['ratio_pdes_over_simpy']:.3f} "
        f"(best of {ratio['repeat']} each, one process, sync {ratio['sync']})"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="phold_bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ranks", type=int, nargs="+", default=[2], help="MPI rank counts to compare with 1")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point; the fastest is kept")
    ap.add_argument("--plot", metavar="PNG", help="also draw speedup against ranks (needs the 'plot' extra)")
    ap.add_argument(
        "--compare",
        action="store_true",
        help="only pdes in one process against plain SimPy, fine grain, in this process",
    )
    ap.add_argument("--until", type=float, default=2000.0, help="simulated end time for --compare")
    args = ap.parse_args(argv)
    if args.compare:
        params = PholdParams(lps=64, events_per_lp=8, remote=0.5, lookahead=1.0, mean=1.0, seed=7)
        lines = compare_simpy(params, args.until, args.repeat)
        for line in lines:
            print(json.dumps(line), flush=True)
        print("\n" + compare_table(lines))
        return 0
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit(f"phold_bench: --plot needs matplotlib: {_plot_hint()}") from None

    rows = []

    def record(label: str, grain: str, result: dict, baseline: dict | None, ref_digest: str) -> None:
        if result["digest"] != ref_digest:
            raise SystemExit(f"phold_bench: {label} gave digest {result['digest']}, expected {ref_digest}")
        point = {"bench": "phold", "case": label, "grain": grain, **result}
        if baseline is not None:
            point["speedup_vs_1"] = round(baseline["wall_s"] / result["wall_s"], 3)
        print(json.dumps(point), flush=True)
        rows.append(point)

    fine_ref = best([*COMMON, *FINE, "--engine", "simpy"], None, args.repeat)
    record("simpy", "work 0", fine_ref, None, fine_ref["digest"])
    for sync in ("null", "window"):
        for grain_name, grain in (("work 0", FINE), ("work 100", COARSE)):
            single = best([*COMMON, *grain, "--sync", sync], None, args.repeat)
            ref_digest = fine_ref["digest"] if grain is FINE else single["digest"]
            record(f"pdes 1 proc {sync}", grain_name, single, None, ref_digest)
            for n in args.ranks:
                record(
                    f"pdes {n} ranks {sync}",
                    grain_name,
                    best([*COMMON, *grain, "--sync", sync], n, args.repeat),
                    single,
                    ref_digest,
                )

    simpy_rate = fine_ref["events_per_s"]
    header = (
        f"{'case':<24} {'grain':<9} {'events':>7} {'wall s':>8} {'events/s':>10} {'vs simpy':>9} "
        f"{'speedup':>8} {'null msgs':>9}"
    )
    print("\n" + header)
    print("-" * len(header))
    for r in rows:
        vs = f"{r['events_per_s'] / simpy_rate:.2f}" if r["grain"] == "work 0" else ""
        speed = f"{r['speedup_vs_1']:.2f}x" if "speedup_vs_1" in r else ""
        print(
            f"{r['case']:<24} {r['grain']:<9} {r['events']:>7} {r['wall_s']:>8.3f} {r['events_per_s']:>10.0f} "
            f"{vs:>9} {speed:>8} {r['null_msgs']:>9}"
        )
    if args.plot:
        plot_speedup(rows, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


def plot_speedup(rows: list[dict], path: str) -> None:
    """Speedup over one process against ranks, one line per (sync, grain), with ideal scaling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    max_ranks = 1
    for sync in ("null", "window"):
        for grain in ("work 0", "work 100"):
            points = [(1, 1.0)] + [
                (r["ranks"], r["speedup_vs_1"])
                for r in rows
                if r.get("sync") == sync and r["grain"] == grain and "speedup_vs_1" in r
            ]
            xs, ys = zip(*sorted(points), strict=True)
            max_ranks = max(max_ranks, *xs)
            ax.plot(xs, ys, marker="o", label=f"{sync}, {grain}")
    ax.plot([1, max_ranks], [1, max_ranks], linestyle=":", color="grey", label="ideal")
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel("speedup over 1 process")
    ax.set_title("PHOLD, 64 LPs (digest identical at every point)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())


def _plot_hint() -> str:
    """``pip install -e '.[plot]'`` in a source checkout (its root has pyproject.toml), else the installed
    distribution's extra."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "pdes" / "phold" / "bench.py").is_file():
        return f"pip install -e '.[plot]' (in {root})"
    return "pip install 'kernbench[plot]'"
