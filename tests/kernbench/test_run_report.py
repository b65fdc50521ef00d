"""``kernbench run`` on many SIPs: a summary, each distinct failure once with its SIPs, outcomes grouped, text that
does not grow with the SIP count; per-SIP blocks with --verbose; JSON keeps every SIP."""

import json

import pytest

from kernbench.cli.labels import sip_set, spans
from kernbench.cli.main import main
from kernbench.cli.run_report import MAX_GROUPS
from tests.kernbench.helpers import REPO_ROOT

TOPOLOGY = str(REPO_ROOT / "topology.yaml")

MIXED = '''"""Most SIPs raise the same error; sip1 fails a check; sip0, sip2 and sip5 pass."""


def run(torch):
    sip = torch.current_device()
    if sip in (0, 2, 5):
        return {"checks": {"good": True}, "which": sip, "kind": "x"}
    if sip == 1:
        return {"checks": {"good": False}, "kind": "x"}
    raise ValueError("no luck")
'''

EACH = '''"""Every SIP fails with its own message."""


def run(torch):
    raise ValueError(f"sip {torch.current_device()} broke")
'''

SLOW = '''"""SIP n takes 100 * (n + 1) ns; all pass."""


def run(torch):
    torch.engine.sleep_until(torch.engine.now() + 100.0 * (torch.current_device() + 1))
    return {"checks": {"ok": True}, "steps": 1}
'''


@pytest.fixture
def benches(tmp_path) -> str:
    for name, text in (("mixed", MIXED), ("each", EACH), ("slow", SLOW)):
        (tmp_path / f"{name}.py").write_text(text)
    return str(tmp_path)


def run_text(capsys, benches: str, bench: str, sips: int, *extra: str) -> tuple[int, list[str]]:
    code = main(
        [
            "run",
            "--topology",
            TOPOLOGY,
            "--bench",
            bench,
            "--benches-dir",
            benches,
            "--device",
            "all",
            "--sips",
            str(sips),
            *extra,
        ]
    )
    return code, capsys.readouterr().out.splitlines()


def test_compact_sip_labels():
    assert spans([9, 0, 2, 5, 6, 7, 8], "sip") == "sip0,sip2,sip5-sip9"
    assert sip_set([0, 2, 5, 6, 7, 8, 9]) == "sip0,sip2,sip5-sip9 (7 SIPs)"
    assert sip_set(list(range(3, 100))) == "sip3-sip99 (97 SIPs)"
    assert sip_set([7]) == "sip7"
    assert spans([2, 3]) == "2-3"


def test_the_same_failure_on_many_sips_is_said_once_with_its_sips(capsys, benches):
    code, lines = run_text(capsys, benches, "mixed", 16)
    assert code == 1
    assert lines[0] == "kernbench run mixed: FAIL"
    assert "  status       3 PASS, 13 FAIL" in lines
    errors = [line for line in lines if "no luck" in line or "failed checks" in line]
    assert errors == [
        "  error        sip3-sip4,sip6-sip15 (12 SIPs): ValueError: no luck (at mixed.py:10)",
        "               sip1: failed checks: good",
    ]
    at = lines.index("sip0,sip2,sip5 (3 SIPs): PASS, sim latency 0.00 ns")  # the passing group, metrics merged
    assert lines[at + 1 : at + 3] == ["  checks:  good ok", "  metrics: which=0..5  kind=x"]
    at = lines.index("sip1: FAIL, sim latency 0.00 ns")
    assert lines[at + 1 : at + 3] == ["  checks:  good FAILED", "  metrics: kind=x"]
    assert not any("(rank " in line for line in lines)  # no per-SIP blocks by default


def test_text_grows_with_distinct_outcomes_not_with_sips(capsys, benches):
    _, small = run_text(capsys, benches, "mixed", 8)
    _, large = run_text(capsys, benches, "mixed", 64)
    assert len(small) == len(large)
    assert "  error        sip3-sip4,sip6-sip63 (60 SIPs): ValueError: no luck (at mixed.py:10)" in large


def test_json_keeps_every_sip_and_groups_the_error_field(capsys, benches):
    code, out = run_text(capsys, benches, "mixed", 16, "--json")
    line = json.loads(out[0])
    assert code == 1
    assert len(out) == 1
    assert [r["sip"] for r in line["results"]] == list(range(16))
    assert [r["status"] for r in line["results"]].count("PASS") == 3
    assert line["error"] == (
        "sip3-sip4,sip6-sip15 (12 SIPs): ValueError: no luck (at mixed.py:10); sip1: failed checks: good"
    )


def test_failures_that_differ_per_sip_stay_apart_and_text_lists_only_the_first_few(capsys, benches):
    code, lines = run_text(capsys, benches, "each", 16)
    errors = [line.removeprefix("  error").strip() for line in lines if "broke" in line]
    assert code == 1
    assert len(errors) == MAX_GROUPS
    assert errors[0] == "sip0: ValueError: sip 0 broke (at each.py:5)"
    assert all(e.startswith(f"sip{i}: ValueError: sip {i} broke") for i, e in enumerate(errors))
    assert f"... {16 - MAX_GROUPS} more errors on {16 - MAX_GROUPS} SIPs (--verbose or --json shows them)" in [
        line.strip() for line in lines
    ]
    _, out = run_text(capsys, benches, "each", 4, "--json")
    line = json.loads(out[0])
    assert line["error"].split("; ") == [f"sip{i}: ValueError: sip {i} broke (at each.py:5)" for i in range(4)]


def test_latency_spread_names_the_slowest_sip(capsys, benches):
    code, lines = run_text(capsys, benches, "slow", 16)
    assert code == 0
    assert "  status       16 PASS" in lines
    assert (
        "  sim latency  max 1,600.00 ns (1.600 us) on sip15 (the slowest SIP), median 850.00 ns, min 100.00 ns" in lines
    )
    at = lines.index("sip0-sip15 (16 SIPs): PASS, sim latency 100.00 .. 1,600.00 ns")
    assert lines[at + 1 : at + 3] == ["  checks:  ok ok", "  metrics: steps=1"]


def test_verbose_shows_every_sip_and_one_sip_shows_its_block_by_default(capsys, benches):
    _, lines = run_text(capsys, benches, "slow", 4, "--verbose")
    assert [line for line in lines if line.startswith("sip")] == [
        f"sip{i} (rank 0): PASS, sim latency {100 * (i + 1)}.00 ns" for i in range(4)
    ]
    assert (
        main(
            [
                "run",
                "--topology",
                TOPOLOGY,
                "--sips",
                "4",
                "--bench",
                "slow",
                "--benches-dir",
                benches,
                "--device",
                "sip:3",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert "sip3 (rank 0): PASS, sim latency 400.00 ns" in lines
    assert "  checks:  ok ok" in lines
