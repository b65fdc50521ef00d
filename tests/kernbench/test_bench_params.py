"""``kernbench run --set KEY=VALUE``: parsing, one-line errors (exit 2), ``--list`` and the JSON ``params``."""

import json

import pytest

from kernbench.cli.bench_loader import BenchError
from kernbench.cli.bench_params import declared, parse_sets, ranges, read_declared, summary
from kernbench.cli.main import main
from tests.kernbench.helpers import REPO_ROOT

TOPOLOGY = str(REPO_ROOT / "topology.yaml")
PARAMS = {"layers": (2, "n"), "rate": (0.5, "r"), "name": ("x", "s"), "fast": (True, "b")}


def test_sets_parse_as_the_defaults_type_and_the_last_one_wins():
    got = parse_sets("b", PARAMS, ["layers=4", "rate=1e-3", "name=a=b", "fast=no", "layers=5"])
    assert got == {"layers": 5, "rate": 1e-3, "name": "a=b", "fast": False}
    assert parse_sets("b", PARAMS, None) == {"layers": 2, "rate": 0.5, "name": "x", "fast": True}
    assert parse_sets("b", PARAMS, ["fast=TRUE", "name="])["fast"] is True
    assert summary(parse_sets("b", PARAMS, [])) == "layers=2 rate=0.5 name=x fast=true"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("foo=1", "--set foo=1: bench b has no parameter 'foo'; its parameters: layers, rate, name, fast"),
        ("layers=2.5", "--set layers=2.5: parameter 'layers' of bench b is an int (default 2), got '2.5'"),
        ("rate=fast", "--set rate=fast: parameter 'rate' of bench b is a float (default 0.5), got 'fast'"),
        ("fast=maybe", "--set fast=maybe: parameter 'fast' of bench b is a bool (default true), got 'maybe'"),
        ("layers", "--set layers: expected KEY=VALUE"),
    ],
)
def test_bad_sets_are_one_line_errors(item, message):
    with pytest.raises(BenchError) as err:
        parse_sets("b", PARAMS, [item])
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("rate=nan", "--set rate=nan: parameter 'rate' of bench b must be a finite number, got 'nan'"),
        ("rate=-inf", "--set rate=-inf: parameter 'rate' of bench b must be a finite number, got '-inf'"),
        ("layers=0", "--set layers=0: parameter 'layers' of bench b must be 1..8, got 0"),
        ("rate=1.5", "--set rate=1.5: parameter 'rate' of bench b must be <= 1.0, got 1.5"),
        ("seed=-1", "--set seed=-1: parameter 'seed' of bench b must be >= 0, got -1"),
    ],
)
def test_numbers_must_be_finite_and_within_their_declared_range(item, message):
    params = {"layers": (2, "n", (1, 8)), "rate": (0.5, "r", (None, 1.0)), "seed": (0, "s", (0, None))}
    bounds = ranges(type("Bench", (), {"PARAMS": params}))  # what a bench module declares
    with pytest.raises(BenchError) as err:
        parse_sets("b", declared("b", raw=params), [item], bounds)
    assert str(err.value) == message
    assert parse_sets("b", declared("b", raw=params), ["layers=8", "rate=-3", "seed=0"], bounds)["layers"] == 8


def test_params_must_be_default_and_description():
    with pytest.raises(BenchError, match="PARAMS\\['n'\\] must be"):
        declared("b", raw={"n": 3})
    with pytest.raises(BenchError, match="must be a dict"):
        declared("b", raw=[("n", 3)])
    for bad in ((3, "n", (4, None)), ("x", "s", (0, 1)), (3, "n", (0,)), (1.0, "r", (float("nan"), None))):
        with pytest.raises(BenchError, match="within its range"):
            declared("b", raw={"n": bad})


def test_list_reads_params_without_importing(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text('"""Mine."""\nimport not_a_module\nPARAMS = {"n": (3, "count")}\n\ndef run(torch, n): ...\n')
    assert read_declared(path) == {"n": (3, "count")}
    assert read_declared(REPO_ROOT / "kernbench" / "benches" / "qkv_gemm.py") == {}


def test_cli_list_shows_the_parameters_under_the_bench(capsys):
    assert main(["run", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("dp_step "))
    assert lines[at + 1].split() == [
        "--set",
        "layers=4",
        "hidden=512",
        "batch=128",
        "cubes=2",
        "bucket_mib=0.25",
        "grad_dtype=f16",
        "overlap=true",
        "algorithm=''",
        "seed=0",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--bench", "dp_step", "--set", "foo=1"],
            "kernbench: --set foo=1: bench dp_step has no parameter 'foo'; its parameters: layers, hidden, batch, "
            "cubes, bucket_mib, grad_dtype, overlap, algorithm, seed",
        ),
        (
            ["--bench", "dp_step", "--set", "layers=two"],
            "kernbench: --set layers=two: parameter 'layers' of bench dp_step is an int (default 4), got 'two'",
        ),
        (
            ["--bench", "gemm_single_pe", "--set", "n=1"],
            "kernbench: --set n=1: bench gemm_single_pe has no parameter 'n'; its parameters: none",
        ),
        (["--list", "--set", "n=1"], "kernbench: --set needs --bench NAME"),
        (
            ["--bench", "dp_step", "--set", "bucket_mib=nan"],
            "kernbench: --set bucket_mib=nan: parameter 'bucket_mib' of bench dp_step must be a finite number, "
            "got 'nan'",
        ),
        (
            ["--bench", "dp_step", "--set", "seed=-1"],
            "kernbench: --set seed=-1: parameter 'seed' of bench dp_step must be 0..18446744073709551615, got -1",
        ),
        (
            ["--bench", "dp_step", "--set", "layers=0"],
            "kernbench: --set layers=0: parameter 'layers' of bench dp_step must be >= 1, got 0",
        ),
    ],
)
def test_cli_set_errors_exit_2_with_one_line(capsys, args, message):
    assert main(["run", "--topology", TOPOLOGY, *args]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]


def test_ccl_allreduce_n_elem_from_set_and_params_in_the_json(capsys):
    assert main(["run", "--topology", TOPOLOGY, "--json", "--bench", "ccl_allreduce", "--set", "n_elem=96"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "PASS"
    assert line["params"] == {"n_elem": 96}
    assert line["results"][0]["metrics"]["n_elem"] == 96
    assert main(["run", "--topology", TOPOLOGY, "--json", "--bench", "gemm_single_pe"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == {}


def test_a_bench_s_own_rules_are_checked_before_the_run(capsys, tmp_path):
    """``check_before_run(params, topo, ccl)`` sees every parameter (defaults filled in) and the system; its ValueError
    is a usage error (exit 2, one line), and the bench never runs."""
    (tmp_path / "ruled.py").write_text(
        'PARAMS = {"n": (8, "a multiple of the PEs per cube")}\n'
        "def check_before_run(params, topo, ccl):\n"
        '    if params["n"] % topo.pes_per_cube:\n'
        "        raise ValueError(f\"n ({params['n']}) must be a multiple of {topo.pes_per_cube} (PEs per cube)\")\n"
        "def run(torch, n):\n"
        '    raise AssertionError("ran")\n'
    )
    args = ["run", "--topology", TOPOLOGY, "--benches-dir", str(tmp_path), "--bench", "ruled"]
    assert main([*args, "--set", "n=12"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", "kernbench: bench ruled: n (12) must be a multiple of 8 (PEs per cube)\n")
    assert main([*args, "--set", "n=16"]) == 1  # the rules hold: it runs (and fails here, on purpose)
    assert "AssertionError: ran" in capsys.readouterr().out
