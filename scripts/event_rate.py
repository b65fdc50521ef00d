"""Events per second of the accelerator model: how fast the simulation loop runs on real benches.

Each workload runs a bench in this process, as ``kernbench run --bench B --algorithm A --json`` does, on a copy of
``topology.yaml`` with ``system.sip_count`` and ``system.topology`` replaced. Only ``Engine.run`` is timed (the
simulation loop, not building the SIPs), in wall time and in this process's CPU time (steadier on a shared
machine), and its events are the pdes count of processed SimPy events.

Prints one JSON line per workload and repeat — ``bench algorithm sips topology events wall_s cpu_s
events_per_s events_per_cpu_s sim_latency_ns report_sha`` — then a table. ``report_sha`` hashes the bench's
``--json`` report without ``wall_s``: equal hashes mean bit-identical simulated results, so the same command
run on two checkouts (``PYTHONPATH=CHECKOUT``) shows both the speed-up and that nothing simulated changed.

    PYTHONPATH=. python scripts/event_rate.py                      # the two default workloads
    PYTHONPATH=. python scripts/event_rate.py --workload ccl_allreduce:ring_allreduce_tcm:4:ring_1d --repeat 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernbench.ccl import load_ccl_config
from kernbench.cli import bench_run, run_report
from kernbench.cli.bench_loader import bench_dirs, find, load
from kernbench.engine import Engine
from kernbench.topology import load_topology

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKLOADS = ("ccl_allreduce:hierarchical_allreduce:16:torus_2d", "ccl_allreduce:mesh_allreduce:121:torus_2d")


@dataclass(frozen=True)
class Workload:
    bench: str
    algorithm: str
    sips: int
    topology: str

    @classmethod
    def parse(cls, text: str) -> Workload:
        parts = text.split(":")
        if len(parts) != 4 or not parts[2].isdigit():
            raise argparse.ArgumentTypeError(f"{text!r}: expected BENCH:ALGORITHM:SIPS:TOPOLOGY")
        return cls(parts[0], parts[1], int(parts[2]), parts[3])


def topology_file(base: Path, sips: int, topology: str, directory: Path) -> Path:
    """``base`` with ``system.sip_count`` and ``system.topology`` replaced (comments kept)."""
    text = base.read_text()
    text, n_count = re.subn(r"(?m)^(  sip_count:\s*)\d+", rf"\g<1>{sips}", text, count=1)
    text, n_topo = re.subn(r"(?m)^(  topology:\s*)\w+", rf"\g<1>{topology}", text, count=1)
    if (n_count, n_topo) != (1, 1):
        raise SystemExit(f"{base}: no system.sip_count / system.topology line to replace")
    path = directory / f"topology_{topology}_{sips}.yaml"
    path.write_text(text)
    return path


def measure(work: Workload, topo_path: Path) -> dict[str, Any]:
    """Run the workload once; time and count the events of every `Engine.run` it makes."""
    module = load(work.bench, find(work.bench, bench_dirs(None)))
    topo = load_topology(topo_path)
    ccl = load_ccl_config(None).with_algorithm(work.algorithm)
    wall0 = time.perf_counter()
    eng = Engine(topo, report_requests=False)  # as kernbench run builds it
    loop = {"wall_s": 0.0, "cpu_s": 0.0, "events": 0}
    engine_run = eng.run

    def timed_run(*args: Any, **kwargs: Any):
        t0, c0 = time.perf_counter(), time.process_time()
        result = engine_run(*args, **kwargs)
        loop["wall_s"] += time.perf_counter() - t0
        loop["cpu_s"] += time.process_time() - c0
        loop["events"] += sum(rank["events"] for rank in result.ranks)
        return result

    eng.run = timed_run  # type: ignore[method-assign]
    sips = list(range(topo.sip_count)) if getattr(module, "SPMD", False) else [0]
    if getattr(module, "SPMD", False):
        results = bench_run.run_spmd(eng, ccl, module.run, sips)
    else:
        results = bench_run.run_bench(eng, ccl, module.run, sips)
    report = run_report.make_report(work.bench, results, sips=sips, ranks=eng.size, wall_s=time.perf_counter() - wall0)
    if report["status"] != run_report.PASS:
        raise SystemExit(f"{work}: {report['error']}")
    report.pop("wall_s")
    sha = hashlib.sha256(run_report.json_line(report).encode()).hexdigest()[:16]
    return {
        "bench": work.bench,
        "algorithm": work.algorithm,
        "sips": work.sips,
        "topology": work.topology,
        "events": loop["events"],
        "wall_s": round(loop["wall_s"], 3),
        "cpu_s": round(loop["cpu_s"], 3),
        "events_per_s": round(loop["events"] / loop["wall_s"]),
        "events_per_cpu_s": round(loop["events"] / loop["cpu_s"]),
        "sim_latency_ns": report["sim_latency_ns"],
        "report_sha": sha,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--workload",
        action="append",
        type=Workload.parse,
        metavar="BENCH:ALGORITHM:SIPS:TOPOLOGY",
        help="repeatable; default: " + ", ".join(DEFAULT_WORKLOADS),
    )
    p.add_argument("--topology", type=Path, default=ROOT / "topology.yaml", help="the file to copy and edit")
    p.add_argument("--repeat", type=int, default=1, help="runs per workload (each printed)")
    args = p.parse_args(argv)
    workloads = args.workload or [Workload.parse(w) for w in DEFAULT_WORKLOADS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for work in workloads:
            path = topology_file(args.topology, work.sips, work.topology, Path(tmp))
            for _ in range(args.repeat):
                row = measure(work, path)
                print(json.dumps(row), flush=True)
                rows.append(row)
    header = (
        f"{'algorithm':<24} {'sips':>5} {'events':>10} {'loop s':>8} {'cpu s':>8} {'events/s':>10} "
        f"{'per cpu s':>10}  report_sha"
    )
    print(
        header,
        *(
            f"{r['algorithm']:<24} {r['sips']:>5} {r['events']:>10} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} "
            f"{r['events_per_s']:>10} {r['events_per_cpu_s']:>10}  {r['report_sha']}"
            for r in rows
        ),
        sep="\n",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
