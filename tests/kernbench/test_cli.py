"""The kernbench command line: summaries of good files, one-line errors for bad ones."""

import json
import subprocess
import sys
from pathlib import Path

from kernbench.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_topology_summary_of_the_default_file(capsys):
    assert main(["topology", "--topology", str(ROOT / "topology.yaml"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sips"] == 2 and info["sip_topology"] == "ring_1d" and info["total_pes"] == 256
    assert info["lookahead_ns"] == 500.0 and info["hbm_slice_effective_gbs"] == 204.8


def test_invalid_file_gives_one_line_naming_the_yaml_path_and_exit_2(tmp_path):
    bad = tmp_path / "topology.yaml"
    bad.write_text((ROOT / "topology.yaml").read_text().replace("w: 4 ", "w: 0 ", 1))
    proc = subprocess.run([sys.executable, "-m", "kernbench.cli.main", "topology", "--topology", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"kernbench: {bad}: sip.cube_mesh.w: expected int >= 1, got 0"]


def test_missing_file_is_reported(capsys):
    assert main(["topology", "--topology", "/nonexistent/topology.yaml"]) == 2
    assert "/nonexistent/topology.yaml: cannot read" in capsys.readouterr().err


def test_user_errors_are_printed_by_the_first_rank_only(monkeypatch, capsys):
    """Under mpirun every rank finds the same bad input; only rank 0 says so, all exit 2."""
    for rank, lines in (("1", 0), ("0", 1)):
        monkeypatch.setenv("PMI_RANK", rank)
        assert main(["probe", "--case", "nope"]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == lines and (not lines or err.startswith("kernbench: unknown case 'nope'"))
    monkeypatch.delenv("PMI_RANK")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    assert main(["probe", "--case", "nope"]) == 2
    assert capsys.readouterr().err == ""
