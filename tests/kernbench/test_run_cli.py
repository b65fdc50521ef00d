"""``kernbench run``: every bench passes, the JSON shape, listing, user errors (exit 2) and failing benches (exit 1)."""

import json
from pathlib import Path

import numpy as np
import pytest

from kernbench.cli.bench_loader import available, bench_dirs, describe
from kernbench.cli.bench_run import split_result
from kernbench.cli.main import main
from kernbench.runtime.phase_log import PhaseLog
from tests.kernbench.helpers import REPO_ROOT

TOPOLOGY = str(REPO_ROOT / "topology.yaml")
BENCHES = (
    "barrier",
    "ccl_allreduce",
    "dp_step",
    "gemm_single_pe",
    "gpt3_qkv",
    "ipcq_allreduce",
    "llm_step",
    "qkv_gemm",
    "qkv_gemm_multi_pe",
    "tp_mlp",
    "va_offset_verify",
)
KEYS = {"bench", "status", "sim_latency_ns", "sips", "ranks", "wall_s", "error", "results", "params"}
RESULT_KEYS = {"sip", "rank", "status", "sim_latency_ns", "checks", "metrics", "error", "phases"}


def run_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["run", "--topology", TOPOLOGY, "--json", *args])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return code, json.loads(out[0])


def test_ccl_allreduce_runs_on_every_sip_and_passes(capsys):
    code, line = run_json(capsys, "--bench", "ccl_allreduce")
    assert code == 0
    assert line["status"] == "PASS"
    assert line["sips"] == [0, 1]  # SPMD: every SIP
    assert [r["metrics"]["result"] for r in line["results"]] == ["ring_allreduce_tcm (ws=2): 2 OK"] * 2
    assert line["sim_latency_ns"] > 2 * 500.0  # at least the two ring steps' link latency
    assert line["params"] == {"n_elem": 8192}  # n_elem=0 means the ccl.yaml algorithm's: the report says which


def test_an_spmd_bench_says_it_runs_on_every_sip_and_takes_no_device(capsys):
    assert main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce"]) == 0
    out = capsys.readouterr().out
    assert "  device       every SIP (SPMD, rank = SIP): sip0-sip1 (2 SIPs), 1 rank" in out
    assert "  params       n_elem=8192" in out
    assert main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", "--device", "all"]) == 0  # what it does
    capsys.readouterr()
    assert main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", "--device", "sip:1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "kernbench: --device sip:1: bench ccl_allreduce is SPMD, it runs one rank on every SIP (choose how many "
        "with --sips)"
    )


def test_gemm_single_pe_passes_with_the_json_shape(capsys):
    code, line = run_json(capsys, "--bench", "gemm_single_pe")
    assert code == 0
    assert line["status"] == "PASS"
    assert line["error"] is None
    assert set(line) == KEYS
    assert line["bench"] == "gemm_single_pe"
    assert line["sips"] == [0]
    assert line["ranks"] == 1
    assert line["wall_s"] > 0
    assert line["sim_latency_ns"] > 0
    (result,) = line["results"]
    assert set(result) == RESULT_KEYS
    assert result["sim_latency_ns"] == line["sim_latency_ns"]
    assert result["checks"] == {"matches_numpy": True, "ran_on_one_pe": True}
    phases = {p["phase"]: p for p in result["phases"]}
    assert {"mmu_map", "copy_", "kernel:gemm", "numpy"} <= set(phases)
    assert phases["copy_"]["count"] == 2
    assert phases["copy_"]["nbytes"] == 2 * 128 * 256 * 2
    assert phases["kernel:gemm"]["kernel"]["flops"] == 2 * 128 * 256 * 128
    assert all(0 < p["span_ns"] <= result["sim_latency_ns"] for p in result["phases"])


def test_qkv_gemm_passes_and_gives_the_same_latency_on_sip1(capsys):
    code0, line0 = run_json(capsys, "--bench", "qkv_gemm")
    assert code0 == 0, line0["error"]
    assert line0["status"] == "PASS", line0["error"]
    metrics = line0["results"][0]["metrics"]
    assert metrics["d_model"] == 12288
    assert metrics["pes"] == 16
    assert metrics["max_rel_err"] < 1e-2
    code1, line1 = run_json(capsys, "--bench", "qkv_gemm", "--device", "sip:1")
    assert code1 == 0
    assert line1["status"] == "PASS"
    assert line1["sips"] == [1]
    assert line1["sim_latency_ns"] == line0["sim_latency_ns"]
    strip = [{k: v for k, v in r.items() if k != "sip"} for r in (line0["results"][0], line1["results"][0])]
    assert strip[0] == strip[1]


def test_va_offset_verify_passes_every_check(capsys):
    code, line = run_json(capsys, "--bench", "va_offset_verify")
    checks = line["results"][0]["checks"]
    assert code == 0, line["error"]
    assert line["status"] == "PASS", line["error"]
    assert len(checks) == 7
    assert all(checks.values())


def test_text_summary(capsys):
    assert main(["run", "--topology", TOPOLOGY, "--bench", "gemm_single_pe", "--device", "sip:1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("kernbench run gemm_single_pe: PASS\n")
    assert "sim latency" in out
    assert "sip1 (rank 0): PASS" in out
    assert "matches_numpy ok" in out
    assert "kernel:gemm" in out
    assert "TFLOP/s" in out


def test_device_all_runs_one_copy_per_sip(capsys):
    code, line = run_json(capsys, "--bench", "gemm_single_pe", "--device", "all")
    assert code == 0
    assert line["sips"] == [0, 1]
    assert [r["sip"] for r in line["results"]] == [0, 1]
    assert line["results"][0]["sim_latency_ns"] == line["results"][1]["sim_latency_ns"] == line["sim_latency_ns"]


def test_device_all_gives_each_sip_its_own_torch(capsys, tmp_path):
    """``with torch:`` frees the context's tensors: with one shared context, the SIP that finished first would
    free (and fail to unmap) the other SIP's tensors."""
    body = (
        "def run(torch):\n    with torch:\n        t = torch.zeros((64, 64))\n"
        "        for _ in range(1 + 3 * torch.current_device()):\n            t.numpy()\n"
        "    return {'checks': {'ok': True}}\n"
    )
    code, line = run_json(
        capsys, "--bench", "cleanup", "--device", "all", "--benches-dir", write_bench(tmp_path, "cleanup", body)
    )
    assert code == 0, line["error"]
    assert line["status"] == "PASS", line["error"]


def test_list_shows_every_bench_with_its_docstring_line(capsys):
    assert main(["run", "--list"]) == 0
    lines = [line for line in capsys.readouterr().out.strip().splitlines() if not line.startswith(" ")]
    assert [line.split()[0] for line in lines] == list(BENCHES)
    assert all(len(line.split(None, 1)) == 2 for line in lines)
    assert describe(REPO_ROOT / "kernbench" / "benches" / "qkv_gemm.py") in lines[BENCHES.index("qkv_gemm")]


def test_list_with_no_benches_found_is_an_error(capsys, tmp_path):
    assert main(["run", "--list", "--benches-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"kernbench: --list: no benches found (searched: {tmp_path})\n")


def test_unknown_bench_is_one_line_and_exit_2(capsys):
    assert main(["run", "--bench", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown bench 'nope'" in err[0]
    assert all(name in err[0] for name in BENCHES)


def test_a_bench_file_anywhere_runs_by_its_path(capsys, tmp_path):
    mine = tmp_path / "my_gemm.py"
    mine.write_text((REPO_ROOT / "kernbench/benches/gemm_single_pe.py").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["run", "--topology", TOPOLOGY, "--bench", str(mine), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["bench"], line["status"]) == (str(mine), "PASS")
    assert main(["run", "--bench", str(tmp_path / "missing.py")]) == 2
    assert capsys.readouterr().err == f"kernbench: --bench {tmp_path / 'missing.py'}: no such file\n"


@pytest.mark.parametrize(("device", "message"), [("sip:5", "has 2 SIPs"), ("gpu0", "expected sip:N")])
def test_bad_device_exit_2(capsys, device, message):
    assert main(["run", "--topology", TOPOLOGY, "--bench", "gemm_single_pe", "--device", device]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kernbench: --device {device}")
    assert message in err


def test_ccl_errors_exit_2_before_anything_runs(capsys, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(
        "defaults: {algorithm: a}\nalgorithms:\n  a: {module: kernbench.ccl.algorithms.ring_allreduce, "
        "topology: ring_1d, n_slots: 64}\n"
    )
    cases = [
        (
            ["--algorithm", "nope"],
            "kernbench: --algorithm 'nope': not an algorithm of ccl.yaml; entries: ring_allreduce_tcm",
        ),
        (
            ["--ccl", str(big)],
            f"kernbench: {big}: algorithms.a: ccl algorithm 'a': the receive rings of rank 0 "
            "cube 0 pe 0 need more than its 2097152-byte tcm ring region",
        ),
    ]
    for extra, message in cases:
        assert main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert err[0].startswith(message)


def write_bench(tmp_path: Path, name: str, body: str) -> str:
    (tmp_path / f"{name}.py").write_text(f'"""{name}: a test bench."""\n\n{body}')
    return str(tmp_path)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("def run(torch):\n    return {'checks': {'good': True, 'bad': False}, 'n': 3}\n", "failed checks: bad"),
        (
            "def run(torch):\n    torch.zeros((4, 4))\n    raise ValueError('no luck')\n",
            "ValueError: no luck (at failing.py:5)",
        ),
        ("def run(torch):\n    return 42\n", "TypeError: run(torch) returned int, expected a dict"),
        (
            "def k(p, tl):\n    tl.load(p + (1 << 40), (4,), 'f16')\n\n"
            "def run(torch):\n    torch.launch('bad', k, torch.zeros((4, 4)))\n",
            "KernelError: kernel 'bad' failed",
        ),
    ],
    ids=["false-check", "exception", "not-a-dict", "kernel-error"],
)
def test_failing_bench_exits_1_with_status_fail(capsys, tmp_path, body, error):
    dirs = write_bench(tmp_path, "failing", body)
    code, line = run_json(capsys, "--bench", "failing", "--benches-dir", dirs)
    assert code == 1
    assert line["status"] == "FAIL"
    assert error in line["results"][0]["error"]
    assert line["error"].startswith("sip0: ")
    assert set(line) == KEYS


def test_bench_without_run_or_that_fails_to_import_is_exit_2(capsys, tmp_path):
    write_bench(tmp_path, "norun", "X = 1\n")
    write_bench(tmp_path, "broken", "import nonexistent_module_xyz\n")
    assert main(["run", "--bench", "norun", "--benches-dir", str(tmp_path)]) == 2
    assert "defines no run(torch)" in capsys.readouterr().err
    assert main(["run", "--bench", "broken", "--benches-dir", str(tmp_path)]) == 2
    assert "ModuleNotFoundError" in capsys.readouterr().err


def test_loader_prefers_the_current_directory_and_skips_helpers(tmp_path, monkeypatch):
    (tmp_path / "benches").mkdir()
    write_bench(tmp_path / "benches", "gemm_single_pe", "def run(torch):\n    return {}\n")
    write_bench(tmp_path / "benches", "_helpers", "")
    monkeypatch.chdir(tmp_path)
    dirs = bench_dirs()
    assert dirs == [(tmp_path / "benches").resolve(), REPO_ROOT / "kernbench" / "benches"]
    found = available(dirs)
    assert found["gemm_single_pe"].parent == (tmp_path / "benches").resolve()
    assert "_helpers" not in found
    assert "qkv_gemm" in found


def test_split_result_and_phase_totals():
    checks, metrics = split_result({"checks": {"a": np.bool_(True)}, "x": np.float32(1.5), "v": np.arange(2)})
    assert checks == {"a": True}
    assert metrics == {"x": 1.5, "v": [0, 1]}
    log = PhaseLog()
    for start, end in ((0.0, 10.0), (5.0, 12.0), (20.0, 21.0)):
        log.add("copy_", start, end, end - start, 4, {})
    (totals,) = log.totals()
    assert totals == {"phase": "copy_", "count": 3, "latency_ns": 18.0, "nbytes": 12, "span_ns": 13.0}


SPMD_TIMED = """import numpy as np

SPMD = True


def work(rank, torch):
    t = torch.zeros((64,), "f32")
    t.copy_(np.full(64, rank, np.float32))
    t.numpy()
    return torch.engine.now()


def run(torch):
    torch.multiprocessing.spawn(work, args=(torch,))
    return {"checks": {"ran": True}, "ends": torch.multiprocessing.results}
"""


def test_an_spmd_bench_reports_its_workers_simulated_time_and_phases(capsys, tmp_path):
    """Without its own sim_latency_ns, each SIP's latency is its worker's simulated end (they start at 0), and the
    phase table is that SIP's runtime trace, as for a plain bench."""
    dirs = write_bench(tmp_path, "spmd_timed", SPMD_TIMED)
    code, line = run_json(capsys, "--bench", "spmd_timed", "--benches-dir", dirs)
    assert code == 0, line["error"]
    assert line["status"] == "PASS", line["error"]
    ends = line["results"][0]["metrics"]["ends"]
    assert [r["sim_latency_ns"] for r in line["results"]] == [ends["0"], ends["1"]]
    assert ends["0"] > 0
    assert line["sim_latency_ns"] == max(ends.values())
    for r in line["results"]:
        phases = {p["phase"]: p for p in r["phases"]}
        assert list(phases) == ["mmu_map", "memory_write", "copy_", "numpy"]
        assert phases["copy_"]["nbytes"] == phases["numpy"]["nbytes"] == 64 * 4
        assert all(0 < p["span_ns"] <= r["sim_latency_ns"] for p in r["phases"])


SPMD_BOOM = (
    "SPMD = True\n\n\ndef work(rank):\n    if rank == 1:\n        raise ValueError('boom')\n\n\n"
    "def run(torch):\n    torch.multiprocessing.spawn(work)\n    return {}\n"
)
"""As written by `write_bench`: line 8 raises, line 12 spawns."""


def test_a_failing_spmd_bench_names_the_line_that_raised_not_the_spawn_call(capsys, tmp_path):
    dirs = write_bench(tmp_path, "spmd_boom", SPMD_BOOM)
    code, line = run_json(capsys, "--bench", "spmd_boom", "--benches-dir", dirs)
    assert code == 1
    assert line["results"][0]["error"] == "SpawnException: rank 1 failed: ValueError: boom (at spmd_boom.py:8)"


def test_an_error_names_the_innermost_user_line_even_in_a_helper_module(capsys, tmp_path):
    (tmp_path / "_helper.py").write_text("def check(x):\n    raise ValueError(f'bad {x}')\n")
    body = (
        "import sys\nsys.path.insert(0, __file__.rsplit('/', 1)[0])\nfrom _helper import check\n\n\n"
        "def run(torch):\n    check(3)\n"
    )
    dirs = write_bench(tmp_path, "uses_helper", body)
    code, line = run_json(capsys, "--bench", "uses_helper", "--benches-dir", dirs)
    assert code == 1
    assert line["results"][0]["error"] == "ValueError: bad 3 (at _helper.py:2)"
