"""The kernbench command line: summaries of good files, one-line errors for bad ones."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kernbench.cli.main import main
from pdes import transport
from tests.pdes.test_mpi_jobs import MPIRUN, run

ROOT = Path(__file__).resolve().parents[2]


def test_topology_summary_of_the_default_file(capsys):
    assert main(["topology", "--topology", str(ROOT / "topology.yaml"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sips"] == 2
    assert info["sip_topology"] == "ring_1d"
    assert info["total_pes"] == 256
    assert info["lookahead_ns"] == 500.0
    assert info["hbm_slice_effective_gbs"] == 204.8


def test_invalid_file_gives_one_line_naming_the_yaml_path_and_exit_2(tmp_path):
    bad = tmp_path / "topology.yaml"
    bad.write_text((ROOT / "topology.yaml").read_text().replace("w: 4 ", "w: 0 ", 1))
    proc = subprocess.run(
        [sys.executable, "-m", "kernbench.cli.main", "topology", "--topology", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"kernbench: {bad}: sip.cube_mesh.w: expected int >= 1, got 0"]


def test_missing_file_is_reported(capsys):
    assert main(["topology", "--topology", "/nonexistent/topology.yaml"]) == 2
    assert "/nonexistent/topology.yaml: cannot read" in capsys.readouterr().err


def test_user_errors_are_printed_by_the_first_rank_only(monkeypatch, capsys):
    """Under mpirun every rank finds the same bad input; only rank 0 says so, all exit 2."""
    monkeypatch.setattr(transport, "_launcher_present", lambda: True)  # as if mpirun's PMI socket were there
    for rank, lines in (("1", 0), ("0", 1)):
        monkeypatch.setenv("PMI_RANK", rank)
        assert main(["probe", "--case", "nope"]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == lines
        assert not lines or err.startswith("kernbench: unknown case 'nope'")
    monkeypatch.delenv("PMI_RANK")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert main(["probe", "--case", "nope"]) == 2
    assert capsys.readouterr().err == ""


def test_usage_errors_help_and_the_topology_summary_are_printed_by_the_first_rank_only(monkeypatch, capsys):
    monkeypatch.setattr(transport, "_launcher_present", lambda: True)
    for rank, printed in (("1", False), ("0", True)):
        monkeypatch.setenv("PMI_RANK", rank)
        for argv in (["topology", "--bogus"], ["--help"]):
            with pytest.raises(SystemExit) as info:
                main(argv)
            out, err = capsys.readouterr()
            assert info.value.code == (0 if argv == ["--help"] else 2)
            assert bool(out + err) is printed
        assert main(["topology"]) == 0
        assert bool(capsys.readouterr().out) is printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--bnch", "x"], "kernbench run: error: unrecognized arguments: --bnch x (did you mean --bench?)"),
        (
            ["ccl-perf", "--max-byts", "1M", "--sipz", "2"],
            "kernbench ccl-perf: error: unrecognized arguments: --max-byts 1M --sipz 2 "
            "(did you mean --max-bytes for --max-byts, --sips for --sipz?)",
        ),
        (["run", "--list", "--zzzz"], "kernbench run: error: unrecognized arguments: --zzzz"),
    ],
)
def test_a_misspelt_option_is_named_with_the_nearest_real_one(argv, message, capsys):
    """argparse checks required options first: ``run --bnch x`` used to say that --bench was missing."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message


def test_run_with_nothing_to_run_says_what_it_needs(capsys):
    assert main(["run"]) == 2
    assert capsys.readouterr().err == (
        "kernbench: one of --bench NAME, --list or --chakra PREFIX is needed "
        "(or --scenario FILE whose jobs name their benches)\n"
    )


def test_a_negative_number_is_a_value_not_an_unknown_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--bench", "nope", "--set", "x=1", "--sips", "-1", "--zzzz"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "kernbench run: error: unrecognized arguments: --zzzz"


@pytest.mark.parametrize("command", [["topology"], ["probe", "--case", "pe-local-hbm"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(command):
    """``kernbench probe | head``: no BrokenPipeError traceback, the exit code of a writer killed by SIGPIPE."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernbench.cli.main", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()
    assert (proc.wait(timeout=60), proc.stderr.read()) == (141, "")


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
def test_bad_inputs_under_mpirun_are_reported_once(tmp_path):
    binary = tmp_path / "ccl.yaml"
    binary.write_bytes(b"\xff\xfe" * 8)
    usage, _ = run(["-m", "kernbench.cli.main", "topology", "--bogus"], ranks=2)
    assert usage.returncode == 2, usage.stderr
    assert usage.stderr.count("unrecognized arguments: --bogus") == 1, usage.stderr
    bad, _ = run(["-m", "kernbench.cli.main", "run", "--bench", "ccl_allreduce", "--ccl", str(binary)], ranks=2)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.splitlines() == [f"kernbench: {binary}: cannot read: not UTF-8 text (byte 0xff at offset 0)"]
