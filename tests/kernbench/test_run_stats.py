"""``kernbench run --stats-json / --ranks / --project``: statistics, virtual ranks and the wall-time projection."""

import json
import re

import pytest

from kernbench.cli.main import main
from pdes.projection import ROUND_COST_S
from tests.kernbench.helpers import REPO_ROOT
from tests.kernbench.test_run_mpi import without_rank_and_wall
from tests.pdes.test_mpi_jobs import MPIRUN, run

TOPOLOGY = str(REPO_ROOT / "topology.yaml")
RANK_FIELDS = {
    "rank",
    "lps",
    "sips",
    "events",
    "rounds",
    "reductions",
    "null_msgs",
    "remote_msgs_sent",
    "remote_msgs_received",
    "sim_time_ns",
    "wall_s",
    "compute_s",
    "compute_cpu_s",
    "exchange_wait_s",
    "reduce_wait_s",
    "blocked_s",
    "busy_s",
    "sync_s_per_round",
}


def kernbench_json(capsys, *args: str) -> dict:
    assert main(["run", "--topology", TOPOLOGY, "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def kernbench_stats(capsys, tmp_path, *args: str) -> tuple[dict, dict]:
    path = tmp_path / "stats.json"
    line = kernbench_json(capsys, *args, "--stats-json", str(path))
    return line, json.loads(path.read_text())


@pytest.mark.parametrize(("bench", "sips"), [("ccl_allreduce", 4), ("tp_mlp", 2)])
def test_virtual_ranks_give_the_json_of_one_rank(capsys, bench, sips):
    one = kernbench_json(capsys, "--bench", bench, "--sips", str(sips))
    many = kernbench_json(capsys, "--bench", bench, "--sips", str(sips), "--ranks", str(sips))
    assert one["status"] == "PASS"
    assert (one["ranks"], many["ranks"]) == (1, sips)
    assert without_rank_and_wall(many) == without_rank_and_wall(one)


def test_stats_json_per_rank_fields_add_up_to_the_single_process_run(capsys, tmp_path):
    _, single = kernbench_stats(capsys, tmp_path, "--bench", "ccl_allreduce", "--sips", "4")
    _, split = kernbench_stats(capsys, tmp_path, "--bench", "ccl_allreduce", "--sips", "4", "--ranks", "3")
    assert [set(r) for r in split["ranks"]] == [RANK_FIELDS] * 3
    assert [r["sips"] for r in split["ranks"]] == [2, 1, 1]
    assert split["sips"] == single["sips"] == 4
    assert sum(r["events"] for r in split["ranks"]) == split["sync"]["events"] == single["sync"]["events"] > 0
    assert split["totals"]["real_msgs"] == single["totals"]["real_msgs"] > 0
    assert {n: s["events"] for n, s in split["lps"].items()} == {n: s["events"] for n, s in single["lps"].items()}
    assert single["totals"]["null_msgs"] == 0 < split["sync"]["null_msgs"]
    assert split["sync"]["remote_msgs"] == sum(r["remote_msgs_received"] for r in split["ranks"]) > 0
    assert len({r["rounds"] for r in split["ranks"]}) == 1
    assert split["sync"]["rounds"] == split["ranks"][0]["rounds"]
    assert sum(split["sync"]["events_share"]) == pytest.approx(1.0)
    sync = split["sync"]
    assert sync["lookahead_ns"] > 0
    assert sync["sim_time_ns"] > 0
    assert 0 <= sync["blocked_fraction"] < 1
    for r, lam in zip(split["ranks"], sync["lambda_by_rank"], strict=True):
        assert r["blocked_s"] == pytest.approx(r["exchange_wait_s"] + r["reduce_wait_s"])
        assert r["compute_s"] <= r["busy_s"] + 1e-6
        assert r["busy_s"] <= r["wall_s"] + 1e-6
        # lambda = events per lookahead window x seconds per event / seconds per round
        windows = sync["sim_time_ns"] / sync["lookahead_ns"]
        assert lam == pytest.approx(r["events"] / windows * (r["compute_cpu_s"] / r["events"]) / sync["round_cost_s"])
    assert sync["lambda"] == pytest.approx(sum(sync["lambda_by_rank"]) / 3)


def test_stats_json_names_its_units_and_its_two_round_counts(capsys, tmp_path):
    """Simulated times carry their unit (ns); the run's rounds and their sum over ranks have different names."""
    _, stats = kernbench_stats(capsys, tmp_path, "--bench", "ccl_allreduce", "--sips", "4", "--ranks", "2")
    assert not {"sim_time", "lookahead"} & (set(stats["sync"]) | set(stats["ranks"][0]))
    assert "rounds" not in stats["totals"]
    rounds = stats["sync"]["rounds"]
    assert [r["rounds"] for r in stats["ranks"]] == [rounds, rounds]
    assert stats["totals"]["rank_rounds"] == 2 * rounds > 0
    assert set(stats["notes"]) == {"units", "rounds"}
    assert "rank_rounds" in stats["notes"]["rounds"]


def test_projected_line_gives_the_round_cost_in_the_units_the_docs_use(capsys):
    """A round's exchange costs ``ROUND_COST_S`` (20 us, as the README says) and a reduction on 4 ranks twice that;
    the sync term is the projection's ``sync_s``, so the terms add up to the projected time."""
    assert (
        main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", "--sips", "4", "--ranks", "4", "--project"])
        == 0
    )
    line = next(x for x in capsys.readouterr().out.splitlines() if "projected:" in x)
    exchange = f"{1e6 * ROUND_COST_S:.3g} us exchange + {2e6 * ROUND_COST_S:.3g} us reduction each)"
    assert exchange == "20 us exchange + 40 us reduction each)"
    assert exchange in line
    terms = re.search(r"\(serial ([\d.]+) \+ critical path ([\d.]+) \+ sync ([\d.]+) .* MPI start ([\d.]+)\)", line)
    projected = float(re.search(r"cores ([\d.]+) s", line).group(1))
    assert sum(float(t) for t in terms.groups()) == pytest.approx(projected, abs=0.05)


def test_text_report_has_the_sync_line_on_more_than_one_rank(capsys):
    assert main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", "--sips", "4", "--ranks", "2"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "sync:" in x)
    assert line.startswith("  sync: 2 ranks, ")
    assert " events (" in line
    assert "% of wall, lambda " in line
    assert main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", "--sips", "4"]) == 0
    assert "sync:" not in capsys.readouterr().out


def test_projection_of_one_rank_is_its_own_loop(capsys, tmp_path):
    line, stats = kernbench_stats(
        capsys, tmp_path, "--bench", "dp_step", "--sips", "4", "--set", "hidden=128", "--set", "batch=32", "--project"
    )
    p = line["projection"]
    assert line["projected_wall_s"] == p["projected_wall_s"]
    assert (p["ranks"], p["sync_s"], p["start_s"]) == (1, 0.0, 0.0)
    assert p["projected_wall_s"] == pytest.approx(line["wall_s"], rel=0.01)  # one rank: nothing to project
    loop = stats["ranks"][0]["wall_s"]
    assert p["critical_path_s"] == pytest.approx(loop, rel=0.1)  # the rounds' busy time is the engine loop
    assert p["rounds"] == stats["sync"]["rounds"]
    assert p["serial_s"] < line["wall_s"]


def test_projection_of_virtual_ranks_is_sane(capsys):
    line = kernbench_json(capsys, "--bench", "ccl_allreduce", "--sips", "4", "--ranks", "4", "--project")
    p = line["projection"]
    assert p["ranks"] == 4
    assert p["rounds"] > 0
    assert 0 < p["balance"] <= 1.0 + 1e-9
    assert p["critical_path_s"] <= p["busy_s"] <= p["measured_wall_s"]
    assert p["critical_path_s"] * 4 >= p["busy_s"] - p["per_rank_other_s"] * 4 - 1e-9
    # JSON rounds every float to 1e-6 (run_report.JSON_DIGITS): the five rounded terms and the rounded total may
    # differ by up to 6 half-units of the last digit, whatever their size. A rank starts its rounds after its own
    # set-up (per_rank_other_s is the longest), so the longest path is at most their sum and at least the rest.
    parts = p["serial_s"] + p["per_rank_other_s"] + p["critical_path_s"] + p["sync_s"] + p["start_s"]
    assert p["projected_wall_s"] <= parts + 3e-6
    assert p["projected_wall_s"] >= parts - p["per_rank_other_s"] - 3e-6
    # every round ends with an exchange on the longest path; a lagged reduction may add up to log2(4) more
    assert p["rounds"] * p["round_cost_s"] - 1e-6 <= p["sync_s"] <= 3 * p["rounds"] * p["round_cost_s"] + 1e-6
    assert p["round_cost_s"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--stats-json", "/nonexistent/s.json"],
            "kernbench: --stats-json /nonexistent/s.json: cannot write: directory '/nonexistent' does not exist",
        ),
        (["--stats-json", "."], "kernbench: --stats-json .: is a directory"),
        (["--ranks", "0"], "kernbench: --ranks 0: expected an integer >= 1 (virtual ranks in this process)"),
    ],
)
def test_bad_options_are_one_line_errors_before_the_run(capsys, args, message):
    assert main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", *args]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == message
    assert out == ""


def test_unwritable_stats_file_is_refused(capsys, tmp_path):
    """A path no one can create, root included (its parent is a regular file): refused before the run."""
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "s.json"
    assert main(["run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", "--stats-json", str(path)]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"kernbench: --stats-json {path}: cannot use it: Not a directory (errno 20)\n")


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
def test_ranks_and_project_under_mpirun_are_refused_once():
    for option in (["--ranks", "2"], ["--project"]):
        proc, _ = run(
            ["-m", "kernbench.cli.main", "run", "--topology", TOPOLOGY, "--bench", "ccl_allreduce", *option], ranks=2
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"kernbench: {option[0]}")
        assert "mpirun" in lines[0]


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
def test_stats_json_under_mpirun_has_both_ranks_and_the_single_process_events(capsys, tmp_path):
    _, single = kernbench_stats(capsys, tmp_path, "--bench", "ccl_allreduce", "--sips", "4")
    path = tmp_path / "mpi.json"
    proc, _ = run(
        [
            "-m",
            "kernbench.cli.main",
            "run",
            "--topology",
            TOPOLOGY,
            "--bench",
            "ccl_allreduce",
            "--sips",
            "4",
            "--stats-json",
            str(path),
        ],
        ranks=2,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("sync: 2 ranks") == 1
    stats = json.loads(path.read_text())
    assert [r["sips"] for r in stats["ranks"]] == [2, 2]
    assert stats["sync"]["events"] == single["sync"]["events"]
    assert stats["totals"]["real_msgs"] == single["totals"]["real_msgs"]
