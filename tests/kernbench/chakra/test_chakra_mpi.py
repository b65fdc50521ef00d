"""A Chakra trace set gives the same JSON in one process and under ``mpirun -n 2`` and ``-n 4``.

The whole-job test runs ``kernbench run --chakra`` as subprocesses (one process, then mpirun -n 2 and -n 4). The
in-process one runs with: mpirun -n 2 python -m pytest --with-mpi -m mpi tests/kernbench/chakra/test_chakra_mpi.py
(or -n 4).
"""

import json

import pytest

from kernbench.ccl import load_ccl_config
from kernbench.chakra import TraceWriter, load_workload, write_ranks
from kernbench.chakra.report import make_report
from kernbench.cli.chakra_cmd import feed
from kernbench.engine import Engine
from kernbench.topology import load_topology
from tests.kernbench.helpers import DEFAULT_TOPOLOGY
from tests.pdes.test_mpi_jobs import MPIRUN, run

KIB = 1 << 10
SIPS = 4


def mixed(rank: int) -> TraceWriter:
    """Every kind of node on 4 ranks: backward compute with bucket all-reduces depending on it (DDP), an all-gather
    on a process group of two ranks, a ring of sends and receives after compute, a memory load, host time, and a
    barrier at the end; rank r's compute takes (r + 1) x 2 us, so the ranks wait on each other differently."""
    w = TraceWriter()
    layer = 2 * (rank + 1)
    l1 = w.comp("layer1.bwd", layer)
    b0 = w.collective("all_reduce", 64 * KIB, deps=[l1], name="bucket0")
    l0 = w.comp("layer0.bwd", layer, deps=[l1])
    b1 = w.collective("all_reduce", 64 * KIB, deps=[l0], name="bucket1")
    pair = w.collective("all_gather", 16 * KIB, group="1" if rank < 2 else "2", deps=[l0], name="tp_gather")
    mem = w.memory("load", 256 * KIB, deps=[pair])
    host = w.host("c10d::allreduce_", 3, deps=[b0])
    send = w.send((rank + 1) % SIPS, 32 * KIB, tag=1, deps=[l0])
    recv = w.recv((rank - 1) % SIPS, 32 * KIB, tag=1, deps=[l0])
    opt = w.comp("optimizer", 4, deps=[b0, b1, send, recv, mem, host])
    w.collective("barrier", deps=[opt])
    return w


def without_run_fields(line: dict) -> dict:
    """What must not depend on how many processes ran it: all but ``wall_s`` and ``ranks``."""
    return {k: v for k, v in line.items() if k not in ("wall_s", "ranks")}


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
def test_one_process_and_mpirun_2_and_4_print_the_same_json(tmp_path):
    prefix = tmp_path / "mixed"
    write_ranks(prefix, [mixed(r) for r in range(SIPS)])
    args = ["-m", "kernbench.cli.main", "run", "--topology", str(DEFAULT_TOPOLOGY), "--sips", str(SIPS)]
    args += ["--chakra", str(prefix), "--json"]
    single, _ = run(args, timeout=180)
    assert single.returncode == 0, single.stderr
    one = json.loads(single.stdout)
    assert (one["status"], one["ranks"], one["sips"]) == ("PASS", 1, SIPS)
    assert [r["nodes"] for r in one["per_rank"]] == [11] * SIPS
    for ranks in (2, 4):
        split, _ = run(args, timeout=180, ranks=ranks)
        assert split.returncode == 0, split.stderr
        many = json.loads(split.stdout)  # one line: only rank 0 prints
        assert many["ranks"] == ranks
        assert without_run_fields(many) == without_run_fields(one)


@pytest.mark.mpi(min_size=2)
def test_every_ranks_breakdown_under_mpi_equals_one_process(tmp_path):
    """MPI rank 0 writes the files, every rank reads them, runs them split over the job and alone, and gets the
    same report: every trace rank's breakdown, on every process."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    prefix = comm.bcast(str(tmp_path / "mixed") if comm.Get_rank() == 0 else None)
    if comm.Get_rank() == 0:
        write_ranks(prefix, [mixed(r) for r in range(SIPS)])
    comm.Barrier()
    topo = load_topology(DEFAULT_TOPOLOGY, sips=SIPS)
    workload = load_workload(str(prefix), SIPS)

    def report(transport):
        ranks, error = feed(Engine(topo, transport=transport, report_requests=False), load_ccl_config(), workload, 1)
        return make_report(workload, ranks, error)

    split, single = report("mpi"), report("local")
    assert single["status"] == "PASS", single["error"]
    assert split == single
