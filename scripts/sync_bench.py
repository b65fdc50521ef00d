"""Parallel-scaling benchmark: one process, ``mpirun -n 2``, and K ranks projected from K virtual ranks.

For each workload and SIP count it runs ``kernbench run`` in fresh child processes: once in one process, once
under ``mpirun -n 2`` (measured), and with ``--ranks K --project`` for K = 2 (to check the projection against
the measured 2-rank run) and each of ``--project-ranks`` (default 4 16 64, those <= the SIP count). Each run
writes ``--stats-json``; one JSON line per run goes to stdout (the keys of `FIELDS`), then a table
(``--markdown`` for docs/guides/parallel-scaling.md) and with ``--plot PNG`` wall time against ranks per workload.

- ``wall_s``: the command's own wall time (``kernbench run``'s ``wall_s``: set-up and run, imports excluded),
  measured for ``1`` and ``mpirun 2``, projected for ``proj K`` (docs/adr/0014-projection.md).
- ``speedup``: the one-process wall time over this row's; ``efficiency``: speedup over ranks; ``cpu_s``: the
  one process's CPU seconds over the same span (``cpu_s`` of ``--stats-json``), and for ``proj K`` the projection
  from CPU time: on a machine shared with other jobs, what cores of their own would take; ``speedup_cpu``: their
  ratio to the one process's; ``process_s`` (measured runs): the whole command's wall time, interpreter start,
  imports and MPI launch included, and ``speedup_process`` the one process's over ``mpirun``'s; ``error_pct`` (the
  ``proj 2`` rows): the projection's error against the measured ``mpirun 2`` wall,
  ``100 * (projected - measured) / measured``.
- ``null_msgs``, ``real_msgs``, ``rounds``, ``lambda``: from the run's statistics (`pdes.projection`).
- ``serial_s``, ``critical_path_s``, ``sync_s``, ``balance`` (the ``proj`` rows): the projection's terms, and the
  ranks' busy time over K x the critical path (1: every round perfectly balanced); ``projected_cpu_s``: the
  projection from CPU time instead of wall time (K cores nothing else uses).
- ``cpu_share``: CPU seconds over wall seconds while the ranks computed (1: they had their cores to
  themselves; 0.5: other processes held them half the time).

Workloads (``--workloads``): ``hierarchical`` and ``mesh`` (the ``ccl_allreduce`` bench with
``hierarchical_allreduce`` / ``mesh_allreduce``) and ``dp_step`` (with ``--dp-set``, default small sizes).
This machine has 2 cores shared with other jobs: wall times are noisy (run it twice, compare).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pdes.partition import PARTITIONS  # noqa: E402
from pdes.sync import SYNC_MODES  # noqa: E402
from scripts.scale_bench import emit, render, run_child  # noqa: E402  (child runs with this checkout's environment)

WORKLOADS = {
    "hierarchical": ["--bench", "ccl_allreduce", "--algorithm", "hierarchical_allreduce"],
    "mesh": ["--bench", "ccl_allreduce", "--algorithm", "mesh_allreduce"],
    "dp_step": ["--bench", "dp_step"],
}
DEFAULT_VARIANT = ("null", "round_robin")  # kernbench run's own --sync and --partition defaults
DP_SET = ["hidden=128", "batch=32"]
FIELDS = [
    "workload",
    "sips",
    "mode",
    "ranks",
    "sync",
    "partition",
    "status",
    "wall_s",
    "speedup",
    "efficiency",
    "cpu_s",
    "speedup_cpu",
    "process_s",
    "speedup_process",
    "error_pct",
    "rounds",
    "null_msgs",
    "real_msgs",
    "lambda",
    "events",
    "cpu_share",
    "projected_cpu_s",
    "serial_s",
    "critical_path_s",
    "sync_s",
    "balance",
    "error",
]


def command(
    workload: str,
    sips: int,
    mode: str,
    ranks: int,
    stats: str,
    args: argparse.Namespace,
    variant: tuple[str, str],
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "kernbench.cli.main",
        "run",
        *WORKLOADS[workload],
        "--topology",
        str(Path(args.topology).resolve()),
        "--sips",
        str(sips),
        "--sip-topology",
        args.sip_topology,
        "--json",
        "--stats-json",
        stats,
        "--sync",
        variant[0],
        "--partition",
        variant[1],
    ]
    if workload == "dp_step":
        for item in args.dp_set:
            cmd += ["--set", item]
    if mode == "proj":
        cmd += ["--ranks", str(ranks), "--project"]
    if mode == "mpirun":
        mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
        if mpirun is None:
            raise SystemExit("sync_bench: mpirun not found (pip install -e '.[dev]' brings MPICH's)")
        cmd = [mpirun, "-n", str(ranks), *cmd]
    return cmd


def run_one(
    workload: str,
    sips: int,
    mode: str,
    ranks: int,
    args: argparse.Namespace,
    variant: tuple[str, str],
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "workload": workload,
        "sips": sips,
        "mode": mode,
        "ranks": ranks,
        "sync": variant[0],
        "partition": variant[1],
    }
    with tempfile.TemporaryDirectory(prefix="sync_bench-") as tmp:
        stats_path = str(Path(tmp) / "stats.json")
        code, out, err = run_child(command(workload, sips, mode, ranks, stats_path, args, variant), ROOT, args.timeout)
        if code is None:
            return {**record, "status": "TIMEOUT", "error": f"no result within --timeout {args.timeout:g} s"}
        try:
            line = json.loads(out.strip().splitlines()[-1])
            stats = json.loads(Path(stats_path).read_text())
        except (ValueError, IndexError, OSError):
            text = [x for x in (err + out).splitlines() if x.strip()]
            return {**record, "status": "ERROR", "error": f"exit {code}: {text[-1] if text else ''}"}
    sync = stats["sync"]
    record["cpu_s"] = stats.get("cpu_s")
    if mode == "proj":
        record.update({k: line["projection"][k] for k in ("critical_path_s", "sync_s", "balance", "projected_cpu_s")})
        record["cpu_s"] = line["projection"]["projected_cpu_s"]
        record["serial_s"] = line["projection"]["serial_s"] + line["projection"]["per_rank_other_s"]
    compute = sum(r["compute_s"] for r in stats["ranks"])
    record["cpu_share"] = sum(r["compute_cpu_s"] for r in stats["ranks"]) / compute if compute else None
    return {
        **record,
        "status": line["status"],
        "error": line["error"],
        "wall_s": line["projected_wall_s"] if mode == "proj" else line["wall_s"],
        "rounds": sync["rounds"],
        "null_msgs": sync["null_msgs"],
        "real_msgs": sync["real_msgs"],
        "lambda": sync["lambda"],
        "events": sync["events"],
    }


def sweep(args: argparse.Namespace):
    """Yield each run's record as it finishes, speedup and error filled in."""
    for workload in args.workloads:
        for sips in args.sizes:
            first = args.variants[0]
            plan = [
                ("single", 1, first),
                *(("mpirun", 2, v) for v in args.variants),
                ("proj", 2, first),
                *(("proj", k, first) for k in args.project_ranks if k <= sips),
            ]
            single = measured2 = single_cpu = single_process = None
            for mode, ranks, variant in plan:
                t0 = time.perf_counter()
                r = run_one(workload, sips, mode, ranks, args, variant)
                if mode != "proj":  # the whole command: interpreter, imports, MPI launch
                    r["process_s"] = time.perf_counter() - t0
                if mode == "single":
                    single_process = r["process_s"]
                if mode == "mpirun" and single_process:
                    r["speedup_process"] = single_process / r["process_s"]
                if mode == "single":
                    single = r.get("wall_s")
                if mode == "mpirun" and variant == first:
                    measured2 = r.get("wall_s")
                wall = r.get("wall_s")
                r["speedup"] = single / wall if single and wall else None
                r["efficiency"] = r["speedup"] / ranks if r["speedup"] else None
                if mode == "single":
                    single_cpu = r.get("cpu_s")
                cpu = r.get("cpu_s") if mode != "mpirun" else None
                r["speedup_cpu"] = single_cpu / cpu if single_cpu and cpu else None
                if mode == "proj" and ranks == 2 and wall and measured2:
                    r["error_pct"] = 100 * (wall - measured2) / measured2
                yield {k: _round(r.get(k)) for k in FIELDS}


def _round(v: Any) -> Any:
    return float(f"{v:.4g}") if isinstance(v, float) else v


LABELS = {"single": "1 process", "mpirun": "mpirun -n {}", "proj": "projected {}"}
COLUMNS = [
    ("workload", "workload", "{}"),
    ("SIPs", "sips", "{:,}"),
    ("run", None, "{}"),
    ("status", "status", "{}"),
    ("wall s", "wall_s", "{:.2f}"),
    ("speedup", "speedup", "{:.2f}x"),
    ("efficiency", "efficiency", "{:.0%}"),
    ("CPU s", "cpu_s", "{:.2f}"),
    ("speedup from CPU", "speedup_cpu", "{:.2f}x"),
    ("whole process s", "process_s", "{:.2f}"),
    ("speedup, whole process", "speedup_process", "{:.2f}x"),
    ("proj. error", "error_pct", "{:+.0f}%"),
    ("CPU share", "cpu_share", "{:.0%}"),
    ("rounds", "rounds", "{:,}"),
    ("null msgs", "null_msgs", "{:,}"),
    ("real msgs", "real_msgs", "{:,}"),
    ("lambda", "lambda", "{:.3g}"),
]


def _cell(r: dict[str, Any], col: tuple) -> str:
    if col[1] is None:
        label = LABELS[r["mode"]].format(r["ranks"])
        variant = (r.get("sync") or "null", r.get("partition") or "blocks")  # older lines: blocks, the default then
        return label if variant == DEFAULT_VARIANT else f"{label} {variant[0]}/{variant[1]}"
    value = r.get(col[1])
    return "-" if value is None else col[2].format(value)


def table(rows: list[dict[str, Any]], markdown: bool = False) -> list[str]:
    lines = render([c[0] for c in COLUMNS], [[_cell(r, c) for c in COLUMNS] for r in rows], {0, 1, 2, 3}, markdown)
    errors = [f"{r['workload']} {r['sips']} {r['mode']} {r['ranks']}: {r['error']}" for r in rows if r.get("error")]
    return lines + errors


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Wall time against ranks, one panel per workload, one line per SIP count (measured: markers only; dashed: the
    same from CPU time, where the lines have it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = plt.subplots(1, len(workloads), figsize=(4.2 * len(workloads), 3.6), squeeze=False)
    for ax, workload in zip(axes[0], workloads, strict=True):
        for sips in sorted({r["sips"] for r in rows if r["workload"] == workload}):
            mine = [r for r in rows if r["workload"] == workload and r["sips"] == sips and r.get("wall_s")]
            proj = sorted((r["ranks"], r["wall_s"]) for r in mine if r["mode"] in ("single", "proj"))
            line = ax.plot(*zip(*proj, strict=True), marker="o", label=f"{sips} SIPs") if proj else None
            cpu = sorted((r["ranks"], r["cpu_s"]) for r in mine if r["mode"] in ("single", "proj") and r.get("cpu_s"))
            if len(cpu) > 1:
                color = line[0].get_color() if line else None
                ax.plot(*zip(*cpu, strict=True), marker=".", linestyle="--", color=color, label=f"{sips} SIPs, CPU s")
            for r in mine:
                if r["mode"] == "mpirun":
                    ax.plot(
                        [r["ranks"]],
                        [r["wall_s"]],
                        marker="x",
                        markersize=10,
                        linestyle="none",
                        color=line[0].get_color() if line else None,
                    )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("ranks (o: 1 process, projected; x: mpirun)")
        ax.set_ylabel("wall s")
        ax.set_title(workload)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _variant(text: str) -> tuple[str, str]:
    sync, _, partition = text.partition(":")
    if sync not in SYNC_MODES or partition not in PARTITIONS:
        raise argparse.ArgumentTypeError(
            f"expected SYNC:PARTITION ({'|'.join(SYNC_MODES)} : {'|'.join(PARTITIONS)}), got {text!r}"
        )
    return sync, partition


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="sync_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256], metavar="N", help="SIP counts")
    ap.add_argument("--project-ranks", type=int, nargs="+", default=[4, 16, 64], metavar="K")
    ap.add_argument("--sip-topology", default="torus_2d")
    ap.add_argument("--topology", default=str(ROOT / "topology.yaml"))
    ap.add_argument("--dp-set", nargs="+", default=DP_SET, metavar="KEY=VALUE", help="dp_step's --set items")
    ap.add_argument(
        "--variants",
        nargs="+",
        type=_variant,
        default=[DEFAULT_VARIANT],
        metavar="SYNC:PARTITION",
        help="the mpirun -n 2 runs, one per --sync / --partition pair (e.g. null:round_robin "
        "null:blocks); the first is also used by the other rows (default null:round_robin)",
    )
    ap.add_argument("--timeout", type=float, default=600.0, metavar="S", help="seconds per run (default 600)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--plot", metavar="PNG")
    ap.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        metavar="FILE",
        help="run nothing: read the JSON lines of earlier sweeps from FILEs (e.g. one per workload) and "
        "print (and plot) them as one table",
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.sources:
        return emit(sweep(args), table, plot, args.markdown, args.plot)
    saved = []
    for source in args.sources:
        lines = Path(source).read_text(encoding="utf-8").splitlines()
        saved += [json.loads(line) for line in lines if line.startswith("{")]
    return emit(saved, table, plot, args.markdown, args.plot, echo=False)


if __name__ == "__main__":
    sys.exit(main())
