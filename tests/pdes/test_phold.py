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
@pytest.mark.parametrize("ranks,partition", [(1, "blocks"), (2, "blocks"), (3, "round_robin"), (4, "blocks"),
                                             (16, "blocks")])
def test_digest_matches_plain_simpy(reference, sync, ranks, partition):
    digest, events, _, _ = run_pdes(PARAMS, UNTIL, sync=sync, ranks=ranks, partition=partition)
    assert (digest, events) == reference


def test_digest_changes_with_seed_remote_and_until(reference):
    variants = [PholdParams(**{**PARAMS.__dict__, "seed": 4}), PholdParams(**{**PARAMS.__dict__, "remote": 0.2})]
    digests = {run_simpy(p, UNTIL)[0] for p in variants} | {run_simpy(PARAMS, UNTIL - 1)[0]}
    assert reference[0] not in digests and len(digests) == 3


def test_all_local_phold_has_no_links_and_still_matches():
    params = PholdParams(lps=4, events_per_lp=2, remote=0.0, seed=1)
    assert run_pdes(params, 30.0, ranks=2)[:2] == run_simpy(params, 30.0)[:2]


def test_cli_json_and_stats_file(tmp_path, capsys):
    stats = tmp_path / "stats.json"
    assert phold_main(["--lps", "8", "--until", "20", "--ranks", "2", "--json", "--stats-json", str(stats)]) == 0
    import json

    line = json.loads(capsys.readouterr().out)
    assert line["ranks"] == 2 and line["lps"] == 8 and line["events"] > 0 and line["null_msgs"] > 0
    saved = json.loads(stats.read_text())
    assert [r["rank"] for r in saved["ranks"]] == [0, 1] and len(saved["lps"]) == 8


def test_cli_table_output(capsys):
    assert phold_main(["--lps", "4", "--until", "10"]) == 0
    out = capsys.readouterr().out
    assert "PHOLD result" in out and "digest" in out and "per rank" in out


def test_cli_compare_simpy_prints_both_engines_and_their_ratio(capsys):
    import json

    args = ["--lps", "8", "--until", "20", "--compare-simpy", "--repeat", "2"]
    assert phold_main([*args, "--json"]) == 0
    simpy_line, pdes_line, ratio = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (simpy_line["engine"], pdes_line["engine"]) == ("simpy", "pdes")
    assert simpy_line["digest"] == pdes_line["digest"] and simpy_line["events"] == pdes_line["events"] > 0
    assert ratio["ratio_pdes_over_simpy"] == round(pdes_line["events_per_s"] / simpy_line["events_per_s"], 3)
    assert ratio["repeat"] == 2 and ratio["until"] == 20
    assert phold_main(args) == 0
    assert "pdes / plain SimPy:" in capsys.readouterr().out
    assert phold_main([*args, "--ranks", "2"]) == 2
