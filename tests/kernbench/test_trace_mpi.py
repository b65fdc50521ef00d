"""Traces and hardware statistics under mpirun equal the single-process ones, byte for byte.

Run with: mpirun -n 2 python -m pytest --with-mpi -m mpi tests/kernbench/test_trace_mpi.py  (N >= 2)
"""

import json

import pytest

from kernbench.ccl import load_ccl_config
from kernbench.cli.bench_loader import bench_dirs, find, load
from kernbench.cli.run_cmd import run_spmd
from kernbench.engine import Engine
from kernbench.engine.hw_stats import hw_stats
from kernbench.engine.recorder import Recording
from kernbench.engine.trace_file import trace_json
from kernbench.topology import load_topology

from .conftest import DEFAULT_TOPOLOGY

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(120)]


def recorded(transport: str, sips: int) -> tuple[str, str]:
    """The ccl_allreduce bench as ``kernbench run`` runs it, on ``transport``: (trace text, hw stats JSON)."""
    topo = load_topology(DEFAULT_TOPOLOGY, sips=sips)
    recording = Recording(trace_sips=frozenset(range(sips)), detail="links", stats=True)
    eng = Engine(topo, report_requests=False, transport=transport, recording=recording)
    module = load("ccl_allreduce", find("ccl_allreduce", bench_dirs(None)))
    results = run_spmd(eng, load_ccl_config(), module.run, list(range(sips)))
    assert all(r["status"] == "PASS" for r in results)
    records = eng.gather_records()
    return trace_json(records, recording.detail), json.dumps(hw_stats(records))


@pytest.mark.parametrize("sips", [2, 4])
def test_trace_and_hw_stats_under_mpi_equal_single_process(sips):
    split_trace, split_stats = recorded("mpi", sips)
    single_trace, single_stats = recorded("local", sips)
    assert split_trace == single_trace
    assert split_stats == single_stats
    assert json.loads(split_trace)["otherData"]["flows"] > 0
