"""The default topology ships inside the package: ``kernbench`` works outside the repository too."""

import filecmp
import json
from pathlib import Path

from kernbench.cli.main import main
from kernbench.topology import DEFAULT_TOPOLOGY_PATH

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_topology_is_the_packaged_one():
    assert filecmp.cmp(ROOT / "topology.yaml", DEFAULT_TOPOLOGY_PATH, shallow=False)


def summary(capsys) -> dict:
    assert main(["topology", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_without_topology_the_working_directory_file_wins_else_the_packaged_one(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    info = summary(capsys)
    assert (info["source"], info["topology_from"]) == (str(DEFAULT_TOPOLOGY_PATH), "the packaged default")
    (tmp_path / "topology.yaml").write_text(DEFAULT_TOPOLOGY_PATH.read_text().replace("sip_count: 2 ", "sip_count: 3 "))
    info = summary(capsys)
    assert (info["source"], info["topology_from"], info["sips"]) == ("topology.yaml", "the working directory", 3)
    assert main(["topology", "--topology", str(DEFAULT_TOPOLOGY_PATH)]) == 0
    assert capsys.readouterr().out.startswith(f"topology OK: {DEFAULT_TOPOLOGY_PATH} (--topology)\n")


def test_run_outside_the_repository(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--bench", "gemm_single_pe", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "PASS"
