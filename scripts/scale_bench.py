"""Scaling benchmark for big systems: set-up time, memory and event rate of one all-reduce against SIP count.

For each SIP count (default 16 64 256 1024, ``--sip-topology torus_2d``) one fresh child process (or one
``mpirun -n K`` job with ``--ranks K``, so peak RSS belongs to that size alone) loads ``topology.yaml`` with
``system.sip_count`` and ``system.topology`` replaced, times the set-up (``process_group_plans`` plus
``Engine(topo, report_requests=False)``), then runs the SPMD ``ccl_allreduce`` bench exactly as
``kernbench run`` does (its ``bench_loader.find``/``load`` and ``bench_run.run_spmd``) with ``--algorithm``
(default ``mesh_allreduce``).

One JSON line per size goes to stdout (the keys of `FIELDS`), then a table (``--markdown``: the same table as
Markdown, for docs/guides/big-systems.md). ``status`` is the bench's PASS or FAIL, or TIMEOUT (no result within
``--timeout`` seconds: the child is killed and the sweep goes on) or ERROR (the child failed; ``error`` is the last
line it printed). ``--plot PNG`` draws set-up s/SIP, RSS MB/SIP and events/s against SIP count (needs the ``plot``
extra). Under ``--ranks K``, ``setup_s``, ``run_s`` and ``rss_mb`` are the maxima over the ranks and the
per-SIP memory divides a rank's peak by the SIPs it simulates (``sips_per_rank``, the most any rank holds);
``setup_s_per_sip`` stays per SIP of the whole system.

- ``rss_mb``: peak resident set of the process (``getrusage``), Python, numpy and the imports included;
  ``base_rss_mb`` is that peak right after the imports, so ``added_mb_per_sip``,
  ``(rss_mb - base_rss_mb) / sips_per_rank``, is what each SIP adds: a rank needs about
  ``base_rss_mb + sips_per_rank * added_mb_per_sip``.
- ``events``: the pdes events of every ``Engine.run`` of the bench, summed over the ranks.
- ``sim_latency_ns``: the all-reduce's simulated time (what the bench reports); ``sim_end_ns``: the simulated
  time at which the whole bench (queue installs, copies, barrier, all-reduce) ended, so ``run_s_per_sim_us``
  (wall seconds per simulated microsecond) sizes the wall time of a longer workload.

Where this lives: ``kernbench/`` holds one folder per model layer plus the CLI, and ``kernbench/benches/`` holds
``kernbench run`` benches (``run(torch)``), so a sweep that drives them from outside sits here, next to its
wrapper ``scripts/scale_bench`` (as ``pdes/phold/bench.py`` sits with the engine it measures). Tests import it
by path (``tests/kernbench/test_scale_bench.py``). Run it as ``scripts/scale_bench ARGS`` or
``python scripts/scale_bench.py ARGS``; the child is this file again with ``--child DIR`` (each rank writes its
measurements to ``DIR/rank<r>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = [16, 64, 256, 1024]

FIELDS = [
    "sips",
    "sip_topology",
    "algorithm",
    "ranks",
    "sips_per_rank",
    "status",
    "setup_s",
    "setup_s_per_sip",
    "run_s",
    "events",
    "events_per_s",
    "rss_mb",
    "rss_mb_per_sip",
    "base_rss_mb",
    "added_mb_per_sip",
    "sim_latency_ns",
    "sim_end_ns",
    "run_s_per_sim_us",
    "wall_s",
    "error",
]


# -- the child: one size in one process (or one rank of an mpirun job) ---------------------------------------------


def sized_topology(path: str | os.PathLike[str], sips: int, sip_topology: str):
    """The topology of ``path`` with ``system.sip_count`` and ``system.topology`` replaced (as ``--sips`` does)."""
    from kernbench.topology import load_topology

    return load_topology(path, sips=sips, sip_topology=sip_topology)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def measure(
    sips: int,
    sip_topology: str,
    algorithm: str | None,
    topology: str = "topology.yaml",
    bench: str = "ccl_allreduce",
    ccl_path: str | None = None,
) -> dict[str, Any]:
    """Set up and run ``bench`` on ``sips`` SIPs in this process (this rank, under mpirun); the measurements."""
    from kernbench.ccl import load_ccl_config
    from kernbench.cli.bench_loader import bench_dirs, find, load
    from kernbench.cli.bench_run import run_spmd
    from kernbench.cli.run_report import PASS
    from kernbench.engine import Engine
    from kernbench.engine.system import lp_name
    from kernbench.runtime.distributed import process_group_plans

    base_rss = _peak_rss_mb()
    module = load(bench, find(bench, bench_dirs()))
    topo = sized_topology(topology, sips, sip_topology)
    ccl = load_ccl_config(ccl_path)
    if algorithm:
        ccl = ccl.with_algorithm(algorithm)

    t0 = time.perf_counter()
    process_group_plans(ccl, topo)  # as `kernbench run` does before building the engine
    eng = Engine(topo, report_requests=False)  # as kernbench run builds it
    setup_s = time.perf_counter() - t0

    sips_list = list(range(topo.sip_count))
    t0 = time.perf_counter()
    if getattr(module, "SPMD", False):
        results = run_spmd(eng, ccl, module.run, sips_list)
    else:  # a per-SIP bench on every SIP at once, as `kernbench run --device all`
        from kernbench.cli.bench_run import run_bench

        results = run_bench(eng, ccl, module.run, sips_list)
    run_s = time.perf_counter() - t0

    events = eng.sim.stats()["sync"]["events"]  # collective; every run of the bench, over every rank
    local_now = [eng.sim.lp(lp_name(s)).now for s in sips_list if eng.is_local(s)]
    failures = [f"sip{r['sip']}: {r['error']}" for r in results if r["status"] != PASS]
    return {
        "sips": topo.sip_count,
        "sip_topology": topo.system.topology,
        "algorithm": ccl.selected().name,
        "ranks": eng.size,
        "rank": eng.rank,
        "sips_per_rank": len(local_now),
        "status": "FAIL" if failures else PASS,
        "setup_s": setup_s,
        "run_s": run_s,
        "events": events,
        "rss_mb": _peak_rss_mb(),
        "base_rss_mb": base_rss,
        "sim_latency_ns": max(r["sim_latency_ns"] for r in results),
        "sim_end_ns": max(local_now, default=0.0),
        "error": failures[0] if failures else None,
    }


def child_main(args: argparse.Namespace) -> int:
    if os.environ.get("PMI_SIZE", "1") != "1":
        from pdes.mpi import abort_on_uncaught_exception

        abort_on_uncaught_exception()
    m = measure(args.sizes[0], args.sip_topology, args.algorithm, args.topology, args.bench, args.ccl)
    # One file per rank: the ranks' stdout lines would interleave under mpirun.
    (Path(args.child_out) / f"rank{m['rank']}.json").write_text(json.dumps(m), encoding="utf-8")
    return 0


# -- the parent: one child per size ----------------------------------------------------------------------------


def child_command(sips: int, args: argparse.Namespace, out_dir: str) -> list[str]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        out_dir,
        "--sizes",
        str(sips),
        "--sip-topology",
        args.sip_topology,
        "--topology",
        str(Path(args.topology).resolve()),
        "--bench",
        args.bench,
    ]
    if args.algorithm:
        cmd += ["--algorithm", args.algorithm]
    if args.ccl:
        cmd += ["--ccl", str(Path(args.ccl).resolve())]
    if args.ranks:
        mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
        if mpirun is None:
            raise SystemExit("scale_bench: --ranks needs mpirun (pip install -e '.[dev]' brings MPICH's)")
        cmd = [mpirun, "-n", str(args.ranks), *cmd]
    return cmd


def child_env(timeout: float) -> dict[str, str]:
    """The parent's environment minus MPI launcher variables, with this checkout first on PYTHONPATH."""
    from pdes.transport import LAUNCHER_VARS

    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MPIEXEC_TIMEOUT", str(int(timeout) + 5))  # mpirun ends its ranks itself, too
    return env


def run_child(command: list[str], cwd: str | Path, timeout: float) -> tuple[int | None, str, str]:
    """Run ``command`` in a new session with `child_env`; (exit code, stdout, stderr), the code None after
    ``timeout`` seconds, when the whole group (mpirun, its proxies and ranks) is killed, not the leader only."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=child_env(timeout),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err
    return proc.returncode, out, err


def run_size(sips: int, args: argparse.Namespace) -> dict[str, Any]:
    """One size in a fresh child (or mpirun job); always returns a record, whatever happens to the child."""
    record: dict[str, Any] = {
        "sips": sips,
        "sip_topology": args.sip_topology,
        "algorithm": args.algorithm,
        "ranks": args.ranks or 1,
    }
    with tempfile.TemporaryDirectory(prefix="scale_bench-") as out_dir:
        t0 = time.perf_counter()
        code, out, err = run_child(child_command(sips, args, out_dir), os.getcwd(), args.timeout)
        if code is None:
            return finish(
                {
                    **record,
                    "status": "TIMEOUT",
                    "wall_s": time.perf_counter() - t0,
                    "error": f"no result within --timeout {args.timeout:g} s",
                }
            )
        wall = time.perf_counter() - t0
        try:
            lines = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(out_dir).glob("rank*.json"))]
        except ValueError as exc:
            lines, err = [], f"{err}\nunreadable result file: {exc}"
    if code != 0 or len(lines) != (args.ranks or 1):
        text = [line for line in (err + out).splitlines() if line.strip()]
        last = text[-1].strip() if text else f"(no output; {len(lines)} result file(s))"
        return finish({**record, "status": "ERROR", "wall_s": wall, "error": f"exit {code}: {last}"})
    return finish(combine(lines, wall))


def combine(lines: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """One record from the ranks' lines: rank 0's outcome, the maxima of times, peak memory and end time."""
    first = min(lines, key=lambda m: m["rank"])
    out = {k: v for k, v in first.items() if k != "rank"}
    for key in ("sips_per_rank", "setup_s", "run_s", "rss_mb", "base_rss_mb", "sim_end_ns"):
        out[key] = max(m[key] for m in lines)
    out["wall_s"] = wall_s
    return out


def finish(r: dict[str, Any]) -> dict[str, Any]:
    """Derived per-SIP and per-second figures (None where the inputs are missing), keys in `FIELDS` order."""
    sips = r["sips"]

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    r["setup_s_per_sip"] = ratio(r.get("setup_s"), sips)
    r["events_per_s"] = ratio(r.get("events"), r.get("run_s"))
    owned = r.get("sips_per_rank") or sips  # the memory of a rank holds the SIPs it simulates
    r["rss_mb_per_sip"] = ratio(r.get("rss_mb"), owned)
    added = r["rss_mb"] - r["base_rss_mb"] if r.get("rss_mb") is not None else None
    r["added_mb_per_sip"] = ratio(added, owned)
    r["run_s_per_sim_us"] = ratio(r.get("run_s"), (r.get("sim_end_ns") or 0) / 1000)
    return {k: _round(r.get(k)) for k in FIELDS}


def _round(v: Any) -> Any:
    return float(f"{v:.6g}") if isinstance(v, float) else v


# -- output ----------------------------------------------------------------------------------------------------

COLUMNS = [  # header, key, format
    ("SIPs", "sips", "{:,}"),
    ("topology", "sip_topology", "{}"),
    ("algorithm", "algorithm", "{}"),
    ("ranks", "ranks", "{}"),
    ("status", "status", "{}"),
    ("set-up s", "setup_s", "{:.3f}"),
    ("set-up ms/SIP", "setup_s_per_sip", "{:.2f}", 1e3),
    ("run s", "run_s", "{:.2f}"),
    ("events", "events", "{:,}"),
    ("events/s", "events_per_s", "{:,.0f}"),
    ("peak RSS MB", "rss_mb", "{:,.0f}"),
    ("MB/SIP", "rss_mb_per_sip", "{:.2f}"),
    ("base MB", "base_rss_mb", "{:,.0f}"),
    ("added MB/SIP", "added_mb_per_sip", "{:.2f}"),
    ("sim end us", "sim_end_ns", "{:,.1f}", 1e-3),
    ("wall s/sim us", "run_s_per_sim_us", "{:.3f}"),
]

TEXT_COLUMNS = {1, 2, 4}
"""Left-aligned columns (names); the others are numbers, right-aligned."""


def _cell(r: dict[str, Any], col: tuple) -> str:
    value = r.get(col[1])
    if value is None:
        return "-"
    if len(col) > 3:
        value = value * col[3]
    return col[2].format(value)


def table(rows: list[dict[str, Any]], markdown: bool = False) -> list[str]:
    """The aligned text table, or a Markdown table; errors listed under it."""
    lines = render([c[0] for c in COLUMNS], [[_cell(r, c) for c in COLUMNS] for r in rows], TEXT_COLUMNS, markdown)
    return lines + [f"{r['sips']} SIPs: {r['status']}: {r['error']}" for r in rows if r.get("error")]


def render(heads: list[str], cells: list[list[str]], text_columns: set[int], markdown: bool) -> list[str]:
    """Rows as an aligned text table (text columns left, numbers right) or a Markdown table (this script's and
    sync_bench's)."""
    if markdown:
        align = "|".join("---" if i in text_columns else "---:" for i in range(len(heads)))
        return ["| " + " | ".join(heads) + " |", f"|{align}|", *("| " + " | ".join(row) + " |" for row in cells)]
    widths = [max(len(x) for x in col) for col in zip(heads, *cells, strict=True)]

    def fmt(row: list[str]) -> str:
        cols = enumerate(zip(row, widths, strict=True))
        return " ".join(c.ljust(w) if i in text_columns else c.rjust(w) for i, (c, w) in cols).rstrip()

    return [fmt(heads), "-" * len(fmt(heads)), *(fmt(row) for row in cells)]


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Set-up s/SIP, RSS MB/SIP and events/s against SIP count (log x), one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    panels = [
        ("set-up s per SIP", [("setup_s_per_sip", None)]),
        ("MB per SIP", [("rss_mb_per_sip", "peak RSS"), ("added_mb_per_sip", "added over the imports")]),
        ("events/s", [("events_per_s", None)]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.6))
    for ax, (label, lines) in zip(axes, panels, strict=True):
        for key, name in lines:
            points = sorted((r["sips"], r[key]) for r in rows if r.get(key) is not None)
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_ylim(bottom=0)
        ax.set_xlabel("SIPs")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend()
    first = rows[0] if rows else {}
    fig.suptitle(
        f"kernbench scale: {first.get('algorithm')} on {first.get('sip_topology')}, {first.get('ranks', 1)} rank(s)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="scale_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=DEFAULT_SIZES,
        metavar="N",
        help="SIP counts (default: 16 64 256 1024; square for torus_2d / mesh_2d_no_wrap)",
    )
    ap.add_argument(
        "--sip-topology",
        default="torus_2d",
        choices=["ring_1d", "torus_2d", "mesh_2d_no_wrap"],
        help="inter-SIP link topology (default: torus_2d)",
    )
    ap.add_argument(
        "--algorithm",
        default="mesh_allreduce",
        help="ccl.yaml algorithm (default: mesh_allreduce; e.g. hierarchical_allreduce)",
    )
    ap.add_argument("--bench", default="ccl_allreduce", help="the bench to run (default: ccl_allreduce)")
    ap.add_argument(
        "--topology",
        default=str(ROOT / "topology.yaml"),
        help="base topology file; its sip_count and topology are replaced (default: topology.yaml)",
    )
    ap.add_argument("--ccl", metavar="FILE", help="ccl.yaml to use (default: the shipped one)")
    ap.add_argument("--ranks", type=int, metavar="K", help="run each size under mpirun -n K (RSS: max over ranks)")
    ap.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds per size; a slower size is reported as TIMEOUT and the sweep goes on (default 600)",
    )
    ap.add_argument(
        "--markdown", action="store_true", help="print the table as Markdown (for docs/guides/big-systems.md)"
    )
    ap.add_argument("--plot", metavar="PNG", help="draw the per-SIP figures against SIP count (needs matplotlib)")
    # Internal: measure one size in this process and write the result to DIR/rank<r>.json.
    ap.add_argument("--child", dest="child_out", metavar="DIR", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_out:
        return child_main(args)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit("scale_bench: --plot needs matplotlib: pip install -e '.[plot]'") from None
    return emit((run_size(sips, args) for sips in args.sizes), table, plot, args.markdown, args.plot)


def emit(
    records: Iterable[dict[str, Any]],
    table: Callable[[list[dict[str, Any]], bool], list[str]],
    plot: Callable[[list[dict[str, Any]], str], None],
    markdown: bool,
    plot_path: str | None,
    echo: bool = True,
) -> int:
    """A benchmark's output: each record as a JSON line as it comes (``echo``: not for saved ones), then the table
    and the plot; exit 0 if every record passed (the tail this script and sync_bench share)."""
    rows = []
    for r in records:
        if echo:
            print(json.dumps(r), flush=True)
        rows.append(r)
    print()
    print("\n".join(table(rows, markdown)), flush=True)
    if plot_path:
        plot(rows, plot_path)
        print(f"\nplot written to {plot_path}")
    return 0 if all(r["status"] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # this checkout's kernbench and pdes, also when another one is installed
    sys.exit(main())
