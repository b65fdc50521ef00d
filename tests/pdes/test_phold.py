"""PHOLD digests: plain SimPy = pdes for every in-process partition and sync mode."""

import pytest

from pdes.phold import PholdParams, run_pdes, run_simpy
from pdes.phold.__main__ import main as phold_main

PARAMS = PholdParams(lps=16, events_per_lp=4, remote=0.6, lookahead=0.5, mean=0.7, seed=3)
UNTIL = 60.0


@pytest.fixture(scope="module")
def reference():
    digest, events, _ = run_simpy(PARAMS, UNTIL)
    assert events > 1000
    return digest, events


@pytest.mark.parametrize("sync", ["null", "window"])
@pytest.mark.parametrize(
    ("ranks", "partition"), [(1, "blocks"), (2, "blocks"), (3, "round_robin"), (4, "blocks"), (16, "blocks")]
)
def test_digest_matches_plain_simpy(reference, sync, ranks, partition):
    digest, events, _, _ = run_pdes(PARAMS, UNTIL, sync=sync, ranks=ranks, partition=partition)
    assert (digest, events) == reference


def test_digest_changes_with_seed_remote_and_until(reference):
    variants = [PholdParams(**{**PARAMS.__dict__, "seed": 4}), PholdParams(**{**PARAMS.__dict__, "remote": 0.2})]
    digests = {run_simpy(p, UNTIL)[0] for p in variants} | {run_simpy(PARAMS, UNTIL - 1)[0]}
    assert reference[0] not in digests
    assert len(digests) == 3


def test_all_local_phold_has_no_links_and_still_matches():
    params = PholdParams(lps=4, events_per_lp=2, remote=0.0, seed=1)
    assert run_pdes(params, 30.0, ranks=2)[:2] == run_simpy(params, 30.0)[:2]


def test_cli_json_and_stats_file(tmp_path, capsys):
    stats = tmp_path / "stats.json"
    assert phold_main(["--lps", "8", "--until", "20", "--ranks", "2", "--json", "--stats-json", str(stats)]) == 0
    import json

    line = json.loads(capsys.readouterr().out)
    assert line["ranks"] == 2
    assert line["lps"] == 8
    assert line["events"] > 0
    assert line["null_msgs"] > 0
    saved = json.loads(stats.read_text())
    assert [r["rank"] for r in saved["ranks"]] == [0, 1]
    assert len(saved["lps"]) == 8


def test_cli_table_output(capsys):
    assert phold_main(["--lps", "4", "--until", "10"]) == 0
    out = capsys.readouterr().out
    assert "PHOLD result" in out
    assert "digest" in out
    assert "per rank" in out


def test_cli_compare_simpy_prints_both_engines_and_their_ratio(capsys):
    import json

    args = ["--lps", "8", "--until", "20", "--compare-simpy", "--repeat", "2"]
    assert phold_main([*args, "--json"]) == 0
    simpy_line, pdes_line, ratio = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (simpy_line["engine"], pdes_line["engine"]) == ("simpy", "pdes")
    assert simpy_line["digest"] == pdes_line["digest"]
    assert simpy_line["events"] == pdes_line["events"] > 0
    assert ratio["ratio_pdes_over_simpy"] == round(pdes_line["events_per_s"] / simpy_line["events_per_s"], 3)
    assert ratio["repeat"] == 2
    assert ratio["until"] == 20
    assert phold_main(args) == 0
    assert "pdes / plain SimPy:" in capsys.readouterr().out
    assert phold_main([*args, "--ranks", "2"]) == 2


P = "python -m pdes.phold: error: argument "
BAD_INPUTS = [
    (
        ["--lookahead", "1e-17", "--until", "1"],
        P + "--lookahead: too small for --until 1.0: link 'lp0' -> 'lp1' (port 'lp1', in the all-to-all link group of "
        "64 LPs (lp0..lp63)): latency 1e-17 cannot advance time at t=1.0 (float resolution 2.2e-16); it allows runs "
        "up to t=0.0625: use a larger latency, a shorter run, or a coarser time unit",
    ),
    (
        ["--lookahead", "1e-17", "--until", "1", "--remote", "0"],
        P + "--lookahead: too small for --until 1.0: every PHOLD event's minimum delay: latency 1e-17 cannot advance "
        "time at t=1.0 (float resolution 2.2e-16); it allows runs up to t=0.0625: use a larger latency, a shorter "
        "run, or a coarser time unit",
    ),
    (["--until", "nan"], P + "--until: must be a finite number >= 0 (PHOLD never runs out of events), got 'nan'"),
    (["--until", "-1"], P + "--until: must be a finite number >= 0 (PHOLD never runs out of events), got '-1'"),
    (["--until", "inf"], P + "--until: must be a finite number >= 0 (PHOLD never runs out of events), got 'inf'"),
    (["--ranks", "-2"], P + "--ranks: must be an integer >= 1, got '-2'"),
    (["--ranks", "0"], P + "--ranks: must be an integer >= 1, got '0'"),
    (
        ["--seed", "99999999999999999999999"],
        P + "--seed: must be an integer in [0, 2**64), got '99999999999999999999999'",
    ),
    (["--seed", "-1"], P + "--seed: must be an integer in [0, 2**64), got '-1'"),
    (["--mean", "inf"], P + "--mean: must be a finite number >= 0, got 'inf'"),
    (["--mean", "-0.5"], P + "--mean: must be a finite number >= 0, got '-0.5'"),
    (["--lookahead", "inf"], P + "--lookahead: must be a finite number > 0, got 'inf'"),
    (["--lookahead", "0"], P + "--lookahead: must be a finite number > 0, got '0'"),
    (["--lps", "0"], P + "--lps: must be an integer >= 1, got '0'"),
    (["--lps", "ten"], P + "--lps: must be an integer >= 1, got 'ten'"),
    (["--events-per-lp", "-1"], P + "--events-per-lp: must be an integer >= 0, got '-1'"),
    (["--remote", "nan"], P + "--remote: must be a number in [0, 1], got 'nan'"),
    (["--remote", "1.5"], P + "--remote: must be a number in [0, 1], got '1.5'"),
    (["--work", "inf"], P + "--work: must be a finite number >= 0, got 'inf'"),
    (["--repeat", "0"], P + "--repeat: must be an integer >= 1, got '0'"),
    (
        ["--stats-json", "/nonexistent/x.json"],
        P + "--stats-json: cannot write '/nonexistent/x.json': directory '/nonexistent' does not exist",
    ),
    (["--stats-json", "."], P + "--stats-json: '.' is a directory"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_cli_bad_input_is_one_line_naming_the_flag_and_exit_2(argv, message, capsys):
    assert phold_main(["--lps", "64", *argv]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", message + "\n")


def test_cli_lookahead_within_the_float_resolution_of_until_runs(capsys):
    assert phold_main(["--lps", "4", "--lookahead", "1e-17", "--until", "0.0625", "--json"]) == 0
    assert '"events": ' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/proc/s.json", "no such file or directory"),  # a directory where nobody, root included, creates files
        ("{tmp}/file/s.json", "'{tmp}/file' is not a directory"),
    ],
)
def test_cli_stats_json_unwritable_is_refused_before_the_run(tmp_path, capsys, path, reason):
    """Tried, not guessed from permission bits (which root ignores): refused as root too, before the run."""
    (tmp_path / "file").write_text("")
    path, reason = (x.replace("{tmp}", str(tmp_path)) for x in (path, reason))
    assert phold_main(["--lps", "4", "--stats-json", path]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"{P}--stats-json: cannot write {path!r}: {reason}\n")
    assert (tmp_path / "file").read_text() == ""
