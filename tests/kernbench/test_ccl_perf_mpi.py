"""``kernbench ccl-perf`` under ``mpirun -n 2``: the same rows as one process, printed once per job.

The in-process test runs with: mpirun -n 2 python -m pytest --with-mpi -m mpi tests/kernbench/test_ccl_perf_mpi.py
"""

import pytest

from kernbench.ccl import load_ccl_config
from kernbench.cli.ccl_perf import run_sweep, sweep_sizes
from kernbench.engine import Engine
from kernbench.topology import load_topology
from tests.pdes.test_mpi_jobs import MPIRUN, run

from .test_ccl_perf import TOPOLOGY

PERF = ["-m", "kernbench.cli.main", "ccl-perf", "--topology", "topology.yaml", "--max-bytes", "256K"]


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
@pytest.mark.parametrize(
    "args",
    [
        ["--json", "--algorithm", "ring_allreduce_tcm", "--algorithm", "mesh_allreduce"],
        ["--json", "--op", "all_gather", "--sips", "4"],
        ["--op", "broadcast", "--root", "1", "--sips", "4"],
        ["--json", "--op", "all_to_all", "--sips", "4"],
        ["--json", "--group-size", "2", "--sips", "4"],
    ],
    ids=["all_reduce-json", "all_gather-4sips-json", "broadcast-4sips-text", "all_to_all-json", "groups-json"],
)
def test_two_ranks_print_what_one_process_prints(args):
    single, _ = run([*PERF, *args])
    assert single.returncode == 0, single.stderr
    double, _ = run([*PERF, *args], ranks=2)
    assert double.returncode == 0, double.stderr
    assert double.stdout == single.stdout
    tables = args.count("--algorithm") or 1
    assert single.stdout.count('"type": "avg"' if "--json" in args else "# Avg bus bandwidth") == tables


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize(("op", "sips"), [("all_reduce", 2), ("reduce_scatter", 4)])
def test_sweep_rows_equal_single_process(op, sips):
    topo = load_topology(TOPOLOGY, sips=sips)
    sizes = sweep_sizes(8, 128 * 1024, 4)

    def rows(transport):
        return run_sweep(
            Engine(topo, transport=transport, report_requests=False), load_ccl_config(), op, sizes, "f32", 0
        )

    split, single = rows("mpi"), rows("local")
    assert split == single
    assert all(r["wrong"] == 0 for r in single)
