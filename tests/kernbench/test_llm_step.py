"""kernbench/benches/llm_step.py: one training step with Megatron's TP x PP x DP layout, dense and MoE."""

import json
import re

import pytest

from kernbench.cli.main import main
from tests.kernbench.helpers import DEFAULT_TOPOLOGY

SMALL = [
    *("--topology", str(DEFAULT_TOPOLOGY), "--sips", "8", "--json", "--bench", "llm_step"),
    *("--set", "layers=2", "--set", "seq=16", "--set", "micro_batches=2", "--set", "hidden=64"),
]
KEYS = ("compute_ns", "tp_ns", "pp_ns", "dp_ns", "moe_ns", "bubble_ns", "step_ns")


def step(capsys, *extra: str) -> dict:
    assert main(["run", *SMALL, *extra]) == 0, capsys.readouterr().err
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "PASS"
    return line["results"][0]["metrics"]


@pytest.mark.parametrize(
    ("tp", "pp", "experts"), [(2, 2, 0), (1, 4, 0), (4, 1, 0), (2, 2, 2)], ids=["2x2x2", "1x4x2", "4x1x2", "moe"]
)
def test_a_step_passes_with_its_breakdown(capsys, tp, pp, experts):
    layers = ["--set", f"layers={max(2, pp)}"]
    metrics = step(capsys, "--set", f"tp={tp}", "--set", f"pp={pp}", "--set", f"experts={experts}", *layers)
    assert metrics["max_rel_err"] < 0.05
    assert metrics["compute_ns"] > 0
    assert (metrics["tp_ns"] > 0) == (tp > 1)
    assert (metrics["pp_ns"] > 0) == (pp > 1)
    assert (metrics["bubble_ns"] > 0) == (pp > 1)  # 1F1B's warm-up: the later stages wait
    assert metrics["dp_ns"] > 0  # dp = 2 in every case
    assert (metrics["moe_ns"] > 0) == bool(experts)
    assert set(metrics["stages"]) == {f"stage{s}" for s in range(pp)}
    assert all(set(KEYS) <= set(stage) for stage in metrics["stages"].values())
    assert metrics["step_ns"] == max(stage["step_ns"] for stage in metrics["stages"].values())


def test_virtual_ranks_give_the_same_step(capsys):
    one = step(capsys, "--set", "tp=2", "--set", "pp=2")
    four = step(capsys, "--set", "tp=2", "--set", "pp=2", "--ranks", "4")
    assert four == one


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (["--set", "tp=3"], r"tp x pp \(3 x 1\) must divide the 8 ranks"),
        (["--set", "tp=2", "--set", "dp=2"], r"tp x pp x dp \(2 x 1 x 2\) must be the 8 ranks \(dp=4\)"),
        (["--set", "layers=3", "--set", "pp=2"], r"layers \(3\) must be a multiple of pp \(2\)"),
        (["--set", "experts=3"], r"experts \(3\) must be a multiple of the data-parallel size 8"),
    ],
)
def test_sizes_that_do_not_fit_are_a_usage_error_before_the_run(capsys, setting, message):
    assert main(["run", *SMALL, *setting]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert re.fullmatch(r"kernbench: bench llm_step: " + message + "\n", err), err


def test_dp_given_must_be_what_tp_and_pp_leave(capsys):
    assert step(capsys, "--set", "tp=2", "--set", "pp=2", "--set", "dp=2")["result"] == "tp=2 pp=2 dp=2"
