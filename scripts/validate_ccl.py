"""Validation: every all-reduce algorithm of ccl.yaml, simulated against its analytical reference.

For each SIP topology (``--sip-topologies``), SIP count (``--sips``) and algorithm (``--algorithms``, default every
entry of the shipped ccl.yaml) it runs ``kernbench ccl-perf --json`` in a fresh child process at two sizes: the
smallest (8 bytes, or one element per shard for the algorithms that shard over several PEs) and a large one
(``--large``; default 64 MiB, less where the SIPs' data would pass 256 MiB in all, so a run stays within this
machine's memory and minutes). Each row is one point: the simulated time (the slowest rank's, from the
barrier's common release), ``model_us`` (`kernbench.ccl.model`) and ``sim_over_model``. JSON lines go to stdout
(``--out FILE`` also keeps them), then a table (``--markdown`` for the docs) and with ``--plot PNG`` the ratio
against SIP count per algorithm. Rows beyond ``--tolerance`` (default 1.15 either way) are marked and listed;
docs/validation.md explains each.

Runs are independent simulations, so ``--jobs`` of them run at once (results do not depend on it); a run slower
than ``--timeout`` is reported as TIMEOUT and the sweep goes on. 2D topologies need square SIP counts: the others
are left out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.scale_bench import render, run_child  # noqa: E402  (child runs with this checkout's environment)

DEFAULT_SIPS = [2, 4, 8, 16, 64, 256, 1024]
DEFAULT_TOPOLOGIES = ["ring_1d", "torus_2d"]
LARGE = 64 << 20
TOTAL = 256 << 20
"""The most bytes of all-reduce buffers in all (SIPs x size) a default large point may hold."""
FIELDS = [
    "algorithm",
    "sip_topology",
    "sips",
    "size",
    "status",
    "time_us",
    "model_us",
    "sim_over_model",
    "busbw_gbs",
    "wrong",
    "wall_s",
    "error",
]


def shards(algorithm: str, sips: int, sip_topology: str) -> int:
    """The PEs an all-reduce of ``algorithm`` shards each rank's buffer over (ccl-perf's size unit)."""
    from kernbench.ccl import load_ccl_config
    from kernbench.ccl.mappers import resolve_mapper
    from kernbench.ccl.topologies import CclGeometry
    from scripts.scale_bench import sized_topology

    algo = load_ccl_config().selected(algorithm)
    topo = sized_topology(ROOT / "topology.yaml", sips, sip_topology)
    return len(resolve_mapper(algo.mapper)(CclGeometry.of(topo), 0))


def sizes(algorithm: str, sips: int, sip_topology: str, large: int | None) -> tuple[int, int]:
    """(smallest, large) bytes per rank for one configuration."""
    small = max(8, 4 * shards(algorithm, sips, sip_topology))
    if large is None:
        large = min(LARGE, 1 << int(math.log2(TOTAL // sips)))
    return small, max(large, 2 * small)


def run_config(algorithm: str, sip_topology: str, sips: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Both sizes of one configuration in one child ``kernbench ccl-perf`` (one row per size, always)."""
    small, large = sizes(algorithm, sips, sip_topology, args.large)
    command = [
        sys.executable,
        "-m",
        "kernbench.cli.main",
        "ccl-perf",
        "--sips",
        str(sips),
        "--sip-topology",
        sip_topology,
        "--algorithm",
        algorithm,
        "--min-bytes",
        str(small),
        "--max-bytes",
        str(large),
        "--factor",
        str(large // small),
        "--json",
    ]
    base = {"algorithm": algorithm, "sip_topology": sip_topology, "sips": sips}
    t0 = time.perf_counter()
    code, out, err = run_child(command, ROOT, args.timeout)
    wall = time.perf_counter() - t0
    if code is None:
        return [{**base, "size": size, "status": "TIMEOUT", "wall_s": wall} for size in (small, large)]
    points = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    points = [p for p in points if p.get("type") == "point"]
    if code not in (0, 1) or not points:
        error = (err.strip().splitlines() or ["no output"])[-1]
        return [{**base, "size": size, "status": "ERROR", "wall_s": wall, "error": error} for size in (small, large)]
    rows = []
    for p in points:
        row = {
            **base,
            "size": p["size"],
            "time_us": p["time_us"],
            "model_us": p.get("model_us"),
            "sim_over_model": p.get("sim_over_model"),
            "busbw_gbs": p["busbw_gbs"],
            "wrong": p["wrong"],
            "wall_s": wall,
        }
        rows.append({**row, "status": status_of(row, args.tolerance)})
    return rows


def status_of(row: dict[str, Any], tolerance: float) -> str:
    ratio = row.get("sim_over_model")
    if row["wrong"]:
        return "WRONG"
    return "BEYOND" if ratio is not None and not 1 / tolerance <= ratio <= tolerance else "PASS"


def remodel(rows: list[dict[str, Any]], tolerance: float) -> list[dict[str, Any]]:
    """Saved rows with ``model_us`` and ``sim_over_model`` from this checkout's reference: the simulated times
    stand (the simulator is what ran), the reference is recomputed (it takes milliseconds)."""
    from kernbench.ccl import load_ccl_config
    from kernbench.ccl.model import reference_ns
    from scripts.scale_bench import sized_topology

    ccl = load_ccl_config()
    out = []
    for row in rows:
        if row.get("time_us") is None:
            out.append(row)
            continue
        topo = sized_topology(ROOT / "topology.yaml", row["sips"], row["sip_topology"])
        model = reference_ns(topo, ccl.selected(row["algorithm"]), row["sips"], "all_reduce", row["size"] // 4, "f32")
        changed = {**row, "model_us": None, "sim_over_model": None}
        if model is not None:
            changed |= {"model_us": model / 1e3, "sim_over_model": row["time_us"] * 1e3 / model}
        out.append({**changed, "status": status_of(changed, tolerance)})
    return out


def configurations(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    out = []
    for sip_topology in args.sip_topologies:
        for sips in args.sips:
            if sip_topology != "ring_1d" and math.isqrt(sips) ** 2 != sips:
                continue
            out += [(algorithm, sip_topology, sips) for algorithm in args.algorithms]
    return out


# -- output ----------------------------------------------------------------------------------------------------

COLUMNS = [  # header, key, format
    ("algorithm", "algorithm", "{}"),
    ("topology", "sip_topology", "{}"),
    ("SIPs", "sips", "{:,}"),
    ("size B", "size", "{:,}"),
    ("sim us", "time_us", "{:,.2f}"),
    ("model us", "model_us", "{:,.2f}"),
    ("sim/model", "sim_over_model", "{:.3f}"),
    ("busbw GB/s", "busbw_gbs", "{:.2f}"),
    ("status", "status", "{}"),
]
TEXT_COLUMNS = {0, 1, 8}


def table(rows: list[dict[str, Any]], markdown: bool) -> list[str]:
    cells = [[("-" if r.get(key) is None else fmt.format(r[key])) for _, key, fmt in COLUMNS] for r in rows]
    return render([c[0] for c in COLUMNS], cells, TEXT_COLUMNS, markdown)


def plot(rows: list[dict[str, Any]], path: str, tolerance: float) -> None:
    """sim / model against SIP count, one panel per SIP topology, one colour per algorithm (solid: the large size,
    dotted: the smallest)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    topologies = sorted({r["sip_topology"] for r in rows})
    algorithms = sorted({r["algorithm"] for r in rows})
    colours = plt.get_cmap("tab10" if len(algorithms) <= 10 else "tab20")
    fig, axes = plt.subplots(1, len(topologies), figsize=(6.5 * len(topologies), 4.4), squeeze=False)
    for ax, topology in zip(axes[0], topologies, strict=True):
        for index, algorithm in enumerate(algorithms):
            mine = [r for r in rows if r["algorithm"] == algorithm and r["sip_topology"] == topology]
            for label, pick in (("small", min), ("large", max)):
                points = []
                for sips in sorted({r["sips"] for r in mine}):
                    at = [r for r in mine if r["sips"] == sips and r.get("sim_over_model") is not None]
                    if at:
                        chosen = pick(at, key=lambda r: r["size"])
                        points.append((sips, chosen["sim_over_model"]))
                if points:
                    xs, ys = zip(*points, strict=True)
                    style = "-o" if label == "large" else ":x"
                    colour = colours(index % colours.N)
                    ax.plot(xs, ys, style, color=colour, label=f"{algorithm} ({label})", markersize=4)
        ax.axhspan(1 / tolerance, tolerance, color="green", alpha=0.08)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("SIPs")
        ax.set_ylabel("simulated / reference time")
        ax.set_title(topology)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("kernbench validation: all-reduce, simulated against the analytical reference")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from kernbench.ccl import load_ccl_config

    ap = argparse.ArgumentParser(prog="validate_ccl", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sips", type=int, nargs="+", default=DEFAULT_SIPS, metavar="N", help="SIP counts")
    ap.add_argument(
        "--sip-topologies",
        nargs="+",
        default=DEFAULT_TOPOLOGIES,
        choices=["ring_1d", "torus_2d", "mesh_2d_no_wrap"],
        help="inter-SIP link topologies (default: ring_1d torus_2d)",
    )
    ap.add_argument(
        "--algorithms",
        nargs="+",
        default=list(load_ccl_config().algorithms),
        metavar="NAME",
        help="ccl.yaml algorithms (default: every entry)",
    )
    ap.add_argument("--large", type=int, metavar="BYTES", help="the large size (default: 64 MiB, or 256 MiB / SIPs)")
    ap.add_argument("--tolerance", type=float, default=1.15, help="sim / model ratio to flag beyond (default 1.15)")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    ap.add_argument("--timeout", type=float, default=900.0, metavar="S", help="seconds per run (default 900)")
    ap.add_argument("--out", metavar="FILE", help="also write the JSON lines to FILE")
    ap.add_argument(
        "--from",
        dest="saved",
        nargs="+",
        metavar="FILE",
        help="run nothing: the table and plot of JSON lines saved earlier (--out), in the order given",
    )
    ap.add_argument(
        "--remodel",
        action="store_true",
        help="with --from: recompute model_us and sim/model with this checkout's reference (the simulated times stand)",
    )
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs/validation.md)")
    ap.add_argument("--plot", metavar="PNG", help="draw sim / model against SIP count (needs matplotlib)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.saved:
        rows = [json.loads(line) for path in args.saved for line in Path(path).read_text().splitlines() if line]
        if args.remodel:
            rows = remodel(rows, args.tolerance)
            for row in rows:
                print(json.dumps({k: row.get(k) for k in FIELDS}))
        return report(rows, args)
    configs = configurations(args)
    rows: list[dict[str, Any]] = []
    out = open(args.out, "w") if args.out else None  # noqa: SIM115 (written line by line as runs end)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for done in pool.map(lambda c: run_config(*c, args), configs):
            for row in done:
                line = json.dumps({k: row.get(k) for k in FIELDS})
                print(line, flush=True)
                if out is not None:
                    out.write(line + "\n")
                    out.flush()
                rows.append(row)
            if sys.stderr.isatty():
                print(f"  {len(rows) // 2}/{len(configs)} runs done", file=sys.stderr, end="\r")
    if out is not None:
        out.close()
    return report(rows, args)


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> int:
    """The table, the rows that are not PASS (one line each), the plot; exit 1 on a wrong sum or a failed run."""
    print("\n".join(table(rows, args.markdown)))
    flagged = [r for r in rows if r["status"] != "PASS"]
    for r in flagged:
        print(
            f"{r['status']}: {r['algorithm']} on {r['sips']} SIPs ({r['sip_topology']}), {r['size']} B"
            + (f": sim/model {r['sim_over_model']:.3f}" if r.get("sim_over_model") else "")
            + (f": {r['error']}" if r.get("error") else "")
        )
    if args.plot:
        plot(rows, args.plot, args.tolerance)
    return 1 if any(r["status"] in ("ERROR", "WRONG") for r in rows) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
