"""The analytical reference next to the simulation: a ring all-reduce on 4 SIPs at three sizes.

`run_sweep` is what ``kernbench ccl-perf`` runs (one engine, one spawn, every size checked against numpy);
`reference_ns` is the closed form of the same call (kernbench.ccl.model, docs/adr/0024): alpha-beta-gamma terms
read from the topology's routes and the PE's command costs, no simulation. Their ratio is ``sim/model``.

    python examples/reference_vs_sim.py
"""

from kernbench.ccl import load_ccl_config
from kernbench.ccl.model import reference_ns
from kernbench.cli.ccl_perf import run_sweep
from kernbench.engine import Engine
from kernbench.topology import DEFAULT_TOPOLOGY_PATH, load_topology

SIZES = [1 << 10, 1 << 16, 1 << 22]  # bytes per rank: 1 KiB, 64 KiB, 4 MiB


def main() -> None:
    topo = load_topology(DEFAULT_TOPOLOGY_PATH, sips=4)
    ccl = load_ccl_config().with_algorithm("ring_allreduce_tcm")
    rows = run_sweep(Engine(topo, report_requests=False), ccl, "all_reduce", SIZES, "f32", 0)
    print(f"{'bytes':>9} {'sim us':>8} {'model us':>9} {'sim/model':>9} {'busbw GB/s':>10} {'#wrong':>6}")
    ratios = []
    for row in rows:
        model_us = reference_ns(topo, ccl.selected(), 4, "all_reduce", row["count"], "f32") / 1e3
        ratios.append(row["time_us"] / model_us)
        print(
            f"{row['size']:>9} {row['time_us']:>8.2f} {model_us:>9.2f} {ratios[-1]:>9.3f} "
            f"{row['busbw_gbs']:>10.1f} {row['wrong']:>6}"
        )
    within = all(abs(r - 1) < 0.15 for r in ratios) and not any(row["wrong"] for row in rows)
    print("PASS: every size right, simulation within 15 % of the reference" if within else "FAIL")


if __name__ == "__main__":
    main()
