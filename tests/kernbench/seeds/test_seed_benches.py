"""The earlier kernbench's benches and CLI flags (issue 13 point 6).

Seed 002 (the old README, "Available benchmarks": ``qkv_gemm_multi_pe``, ``ipcq_allreduce``) and seed 004
("Add gemm_single_pe and gpt3_qkv benchmarks"; "CLI: --verify-data flag"; "accept 'sip0' format (without colon)
in DeviceSelector"). Each bench PASSes in one process and under ``mpirun -n 2`` with the same JSON.
"""

import json

import pytest

from kernbench.cli.main import main
from tests.kernbench.test_run_mpi import RUN, without_rank_and_wall
from tests.pdes.test_mpi_jobs import MPIRUN, run

SEED_BENCHES = ["gpt3_qkv", "qkv_gemm_multi_pe", "ipcq_allreduce"]


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
@pytest.mark.parametrize("bench", SEED_BENCHES)
def test_seed_benches_pass_and_give_the_same_json_under_mpirun(bench):
    args = [*RUN, "--bench", bench, "--device", "sip:1", "--verify-data"]
    single, _ = run(args)
    split, _ = run(args, ranks=2)
    assert single.returncode == split.returncode == 0, (single.stderr, split.stderr)
    one, two = json.loads(single.stdout), json.loads(split.stdout)
    assert one["status"] == "PASS", one["error"]
    assert all(one["results"][0]["checks"].values())
    assert one["results"][0]["checks"]
    assert (one["results"][0]["rank"], two["results"][0]["rank"]) == (0, 1)
    assert without_rank_and_wall(two) == without_rank_and_wall(one)


def test_device_sip0_is_sip_colon_0(capsys):
    """Seed 004: 'sip0' (without colon) is accepted as a device."""
    assert main(["run", "--topology", "topology.yaml", "--json", "--bench", "gemm_single_pe", "--device", "sip0"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["run", "--topology", "topology.yaml", "--json", "--bench", "gemm_single_pe", "--device", "sip:0"]) == 0
    colon = json.loads(capsys.readouterr().out)
    assert plain["sips"] == colon["sips"] == [0]
    assert plain["sim_latency_ns"] == colon["sim_latency_ns"]


def test_verify_data_fails_a_bench_that_checks_nothing(capsys, tmp_path):
    """Seed 004 / 000 (``test_ccl_allreduce_matrix`` runs ``--verify-data``): data is always computed here; the
    flag demands that the bench checked it."""
    (tmp_path / "unchecked.py").write_text('"""Checks nothing."""\n\ndef run(torch):\n    return {"x": 1}\n')
    base = ["run", "--topology", "topology.yaml", "--json", "--bench", "unchecked", "--benches-dir", str(tmp_path)]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--verify-data"]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "FAIL"
    assert "--verify-data: the bench checked nothing" in line["error"]
    assert main(["run", "--topology", "topology.yaml", "--bench", "ccl_allreduce", "--verify-data"]) == 0
    assert "ring_allreduce_tcm (ws=2): 2 OK" in capsys.readouterr().out
