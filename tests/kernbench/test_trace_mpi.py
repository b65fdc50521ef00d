"""Traces and hardware statistics under mpirun equal the single-process ones, byte for byte.

Run with: mpirun -n 2 python -m pytest --with-mpi -m mpi tests/kernbench/test_trace_mpi.py  (N >= 2)
"""

import json

import pytest

from kernbench.ccl import load_ccl_config
from kernbench.cli.bench_loader import bench_dirs, find, load
from kernbench.cli.bench_run import run_spmd
from kernbench.engine import Engine
from kernbench.engine.hw_stats import hw_stats
from kernbench.engine.recorder import Recording
from kernbench.engine.trace_file import trace_json
from kernbench.topology import load_topology

from .conftest import DEFAULT_TOPOLOGY

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(120)]


def recorded(transport: str, sips: int) -> tuple[str, str] | None:
    """The ccl_allreduce bench as ``kernbench run`` runs it, on ``transport``: (trace text, hw stats JSON) on rank
    0, None on the other MPI ranks (the records are gathered to rank 0, which writes them)."""
    topo = load_topology(DEFAULT_TOPOLOGY, sips=sips)
    recording = Recording(trace_sips=frozenset(range(sips)), detail="links", stats=True)
    eng = Engine(topo, report_requests=False, transport=transport, recording=recording)
    module = load("ccl_allreduce", find("ccl_allreduce", bench_dirs(None)))
    results = run_spmd(eng, load_ccl_config(), module.run, list(range(sips)))
    assert all(r["status"] == "PASS" for r in results)
    records = eng.gather_records()
    return None if records is None else (trace_json(records, recording.detail), json.dumps(hw_stats(records)))


@pytest.mark.parametrize("sips", [2, 4])
def test_trace_and_hw_stats_under_mpi_equal_single_process(sips):
    from mpi4py import MPI

    split = recorded("mpi", sips)
    single = recorded("local", sips)
    assert single is not None  # one process: always its own rank 0
    if MPI.COMM_WORLD.Get_rank() != 0:
        assert split is None
        return
    assert split is not None
    (split_trace, split_stats), (single_trace, single_stats) = split, single
    assert split_trace == single_trace
    assert split_stats == single_stats
    assert json.loads(split_trace)["otherData"]["flows"] > 0
