"""Chakra microbenchmarks against ``kernbench ccl-perf``: the same collective, size and system, two ways.

For every trace set ``OP/<N>npus_<size>/OP`` under ``--microbenchmarks`` (default ``../shared/chakra/microbenchmarks``,
ASTRA-sim's collective microbenchmarks) and every SIP topology of ``--sip-topologies`` that N SIPs can form (2D
topologies need a square count: 8 ranks run on ring_1d only), it runs in fresh child processes

- ``kernbench run --chakra PREFIX --sips N --sip-topology T --json``: the trace set, rank r on SIP r, and takes the
  slowest rank's collective time (the report's ``time_us``, issue to completion), and
- ``kernbench ccl-perf --op OP --sips N --sip-topology T --min-bytes B --max-bytes B --json``: the same op at
  nccl-tests' size ``B`` of the node's ``comm_size`` (`kernbench.chakra.report.array_bytes`: N times it for an
  all-gather, whose ``comm_size`` is each rank's input), its ``time_us`` (the slowest rank, from the barrier's
  release, as the Chakra run times from its start barrier).

A row is one (op, ranks, topology): both times, their ratio and busbw, ``ok`` when the trace run passed and the
ratio is within ``--tolerance`` (default 5 %). JSON lines go to stdout (``--out FILE`` keeps them too), then a table
(``--markdown`` for docs/guides/chakra-traces.md). Exit 1 if any row is not ok.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.scale_bench import render, run_child  # noqa: E402  (children run with this checkout's environment)

DEFAULT_DIR = ROOT.parent / "shared" / "chakra" / "microbenchmarks"
TOPOLOGIES = ["ring_1d", "torus_2d"]
MAIN = "import sys; from kernbench.cli.main import main; sys.exit(main(sys.argv[1:]))"
SET = re.compile(r"(\d+)npus_(\d+)([KMG]?)B")
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def trace_sets(folder: Path, ops: list[str] | None) -> list[tuple[str, int, Path]]:
    """(op, ranks, PREFIX) of every set under ``folder``, by op then rank count."""
    found = []
    for op_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if ops and op_dir.name not in ops:
            continue
        for set_dir in op_dir.iterdir():
            m = SET.fullmatch(set_dir.name)
            if m and (set_dir / f"{op_dir.name}.0.et").is_file():
                found.append((op_dir.name, int(m.group(1)), set_dir / op_dir.name))
    return sorted(found, key=lambda x: (x[0], x[1]))


def fits(sips: int, topology: str) -> bool:
    return topology == "ring_1d" or round(sips**0.5) ** 2 == sips


def kernbench(args: list[str], timeout: float) -> tuple[int | None, list[dict[str, Any]], str]:
    """``kernbench ARGS`` in a fresh child: exit code (None on timeout), its JSON lines, its last stderr line."""
    code, out, err = run_child([sys.executable, "-c", MAIN, *args], ROOT, timeout)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    tail = err.strip().splitlines()
    return code, lines, tail[-1] if tail else ""


def compare(op: str, sips: int, prefix: Path, topology: str, args: argparse.Namespace) -> dict[str, Any]:
    """One row: the trace set and ccl-perf on N SIPs of ``topology``."""
    from kernbench.chakra import load_workload
    from kernbench.chakra.report import array_bytes

    system = ["--sips", str(sips), "--sip-topology", topology]
    if args.topology:
        system += ["--topology", str(Path(args.topology).resolve())]
    row: dict[str, Any] = {"op": op, "ranks": sips, "sip_topology": topology, "chakra": str(prefix)}
    node = next(n for n in load_workload(str(prefix), sips).trace(0).nodes if n.kind == "collective")
    row["comm_size"] = node.size
    row["bytes"] = size = array_bytes(node.op, node.size, sips)
    t0 = time.perf_counter()
    code, lines, err = kernbench(["run", "--chakra", str(prefix), *system, "--json"], args.timeout)
    row["chakra_wall_s"] = round(time.perf_counter() - t0, 2)
    report = lines[-1] if lines else None
    row["status"] = "TIMEOUT" if code is None else (report or {}).get("status", "ERROR")
    if report is None or report["slowest"] is None or not report["slowest"]["collectives"]:
        row["error"] = (report or {}).get("error") or err or f"exit {code}"
        return row
    [coll] = report["slowest"]["collectives"]
    row["chakra_us"] = coll["time_us"]
    row["chakra_busbw_gbs"] = coll["busbw_gbs"]
    perf = ["ccl-perf", "--op", node.op, *system, "--min-bytes", str(size), "--max-bytes", str(size), "--json"]
    code, lines, err = kernbench(perf, args.timeout)
    point = next((line for line in lines if line.get("type") == "point"), None)
    if point is None:
        row["status"] = "ERROR"
        row["error"] = f"ccl-perf: {err or f'exit {code}'}"
        return row
    row["ccl_perf_us"] = point["time_us"]
    row["ccl_perf_busbw_gbs"] = point["busbw_gbs"]
    row["ratio"] = round(row["chakra_us"] / point["time_us"], 6)
    row["ok"] = row["status"] == "PASS" and abs(row["ratio"] - 1) <= args.tolerance
    return row


def table(rows: list[dict[str, Any]], markdown: bool) -> list[str]:
    heads = ["op", "ranks", "topology", "bytes", "chakra (us)", "ccl-perf (us)", "ratio", "busbw (GB/s)", "status"]
    cells = []
    for r in rows:
        if "ratio" in r:
            cells.append(
                [
                    r["op"],
                    str(r["ranks"]),
                    r["sip_topology"],
                    f"{r['bytes']:,}",
                    f"{r['chakra_us']:.3f}",
                    f"{r['ccl_perf_us']:.3f}",
                    f"{r['ratio']:.4f}",
                    f"{r['chakra_busbw_gbs']:.2f}",
                    r["status"] + ("" if r["ok"] else " (off)"),
                ]
            )
        else:
            cells.append(
                [r["op"], str(r["ranks"]), r["sip_topology"], "-", "-", "-", "-", "-", f"{r['status']}: {r['error']}"]
            )
    return render(heads, cells, {0, 2, 8}, markdown)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--microbenchmarks", default=str(DEFAULT_DIR), metavar="DIR", help=f"default {DEFAULT_DIR}")
    p.add_argument("--ops", nargs="+", metavar="OP", help="only these ops (default: every folder)")
    p.add_argument("--sip-topologies", nargs="+", default=TOPOLOGIES, metavar="T", help="default ring_1d torus_2d")
    p.add_argument("--topology", metavar="FILE", help="system description (default: kernbench's)")
    p.add_argument("--tolerance", type=float, default=0.05, help="largest |chakra / ccl-perf - 1| (default 0.05)")
    p.add_argument("--jobs", type=int, default=1, help="rows run at once (default 1)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per child run (default 600)")
    p.add_argument("--out", metavar="FILE", help="also write the JSON lines here")
    p.add_argument("--markdown", action="store_true", help="the table in Markdown")
    args = p.parse_args(argv)
    folder = Path(args.microbenchmarks)
    if not folder.is_dir():
        p.error(f"no folder {folder} (ASTRA-sim's microbenchmarks; see ../shared/chakra/README.md)")
    jobs = [
        (op, n, prefix, topology)
        for op, n, prefix in trace_sets(folder, args.ops)
        for topology in args.sip_topologies
        if fits(n, topology)
    ]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda job: compare(*job, args), jobs))
    lines = [json.dumps(r) for r in rows]
    print("\n".join(lines), flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    print()
    print("\n".join(table(rows, args.markdown)))
    bad = [r for r in rows if not r.get("ok")]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} within {args.tolerance:.0%} of ccl-perf and PASS")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
