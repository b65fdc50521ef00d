"""``--sips N`` and ``--sip-topology KIND`` on run, probe and topology: the same answers as an edited file, the
file's own validation and messages for bad values, and a warning when ranks outnumber SIPs."""

import json

import pytest

from kernbench.cli.main import main
from kernbench.cli.system_args import warn_idle_ranks
from kernbench.engine import Engine
from kernbench.topology import load_topology
from tests.kernbench.helpers import REPO_ROOT

TOPOLOGY = REPO_ROOT / "topology.yaml"
FLAGS = ["--sips", "4", "--sip-topology", "torus_2d"]


@pytest.fixture
def edited(tmp_path) -> str:
    """topology.yaml with 4 SIPs in a torus, edited by hand as a user would."""
    text = TOPOLOGY.read_text().replace("sip_count: 2 ", "sip_count: 4 ", 1)
    path = tmp_path / "topology.yaml"
    path.write_text(text.replace("topology: ring_1d ", "topology: torus_2d ", 1))
    return str(path)


def json_lines(capsys, *args: str) -> list[dict]:
    assert main([*args, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_run_with_the_flags_gives_the_results_of_the_edited_file(capsys, edited):
    (flagged,) = json_lines(capsys, "run", "--topology", str(TOPOLOGY), *FLAGS, "--bench", "tp_mlp")
    (by_file,) = json_lines(capsys, "run", "--topology", edited, "--bench", "tp_mlp")
    assert flagged["sips"] == [0, 1, 2, 3]
    assert flagged["status"] == "PASS"
    assert flagged["results"][0]["metrics"]["world_size"] == 4
    assert {**flagged, "wall_s": 0} == {**by_file, "wall_s": 0}


def test_probe_and_topology_with_the_flags_match_the_edited_file_but_for_the_source(capsys, edited):
    for command in (["probe", "--case", "cross-sip-pe-dma"], ["topology"]):
        flagged = json_lines(capsys, *command, "--topology", str(TOPOLOGY), *FLAGS)
        by_file = json_lines(capsys, *command, "--topology", edited)
        key = "source" if command == ["topology"] else "topology"
        assert flagged[0][key] == f"{TOPOLOGY} (with --sips 4 --sip-topology torus_2d)"
        assert by_file[0][key] == edited
        assert [{**r, key: 0} for r in flagged] == [{**r, key: 0} for r in by_file]
    assert flagged[0]["sips"] == 4
    assert flagged[0]["sip_topology"] == "torus_2d"
    assert flagged[0]["inter_sip_links"] == 8


@pytest.mark.parametrize("command", [["run", "--bench", "gemm_single_pe"], ["probe"], ["topology"]])
@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (
            ["--sips", "6", "--sip-topology", "torus_2d"],
            "system.sip_count: system.topology torus_2d needs a square SIP count (1, 4, 9, 16, ...), got 6",
        ),
        (["--sips", "0"], "system.sip_count: expected int >= 1, got 0"),
        (
            ["--sip-topology", "mesh"],
            "system.topology: expected one of ring_1d, torus_2d, mesh_2d_no_wrap, got 'mesh' (str)",
        ),
    ],
)
def test_a_bad_flag_value_is_one_line_naming_the_flag_and_exit_2(capsys, command, flags, problem):
    assert main([*command, "--topology", str(TOPOLOGY), *flags]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"kernbench: {TOPOLOGY} (with {' '.join(flags)}): {problem}"]


def test_the_warning_names_the_ranks_that_own_no_sip(capsys):
    """Dealt round-robin, 2 SIPs land on ranks 0 and 1 of 4; in contiguous blocks on ranks 0 and 2, so the idle
    ranks are not always the last ones."""
    topo = load_topology(TOPOLOGY)
    warn_idle_ranks(Engine(topo, ranks=4), topo)
    warn_idle_ranks(Engine(topo, ranks=4, partition="blocks"), topo)
    warn_idle_ranks(Engine(topo, ranks=2), topo)  # one rank per SIP: nothing to say
    assert capsys.readouterr().err.splitlines() == [
        "kernbench: warning: 4 ranks for 2 SIPs: ranks 2-3 simulate nothing",
        "kernbench: warning: 4 ranks for 2 SIPs: ranks 1,3 simulate nothing",
    ]
