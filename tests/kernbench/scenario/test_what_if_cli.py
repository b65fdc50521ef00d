"""``--scenario`` and ``--compare`` of ``kernbench run`` and ``kernbench ccl-perf``: a straggler delays a data-parallel
step by its extra compute, a failed link slows a ring all-reduce that still sums exactly, a link at a quarter of the
rate takes a ring to a quarter of its bandwidth, and bad input is one line before the run."""

import json

import pytest

from kernbench.cli.main import main
from tests.kernbench.helpers import DEFAULT_TOPOLOGY, DP_STEP_SMALL

RUN = ["run", "--topology", str(DEFAULT_TOPOLOGY)]


def scenario(tmp_path, text: str, name: str = "what_if.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def json_of(capsys, argv: list[str]) -> tuple[int, list[dict]]:
    code = main(argv)
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_a_straggler_delays_the_step_by_its_extra_compute_and_the_others_wait_for_it(tmp_path, capsys):
    slow = scenario(tmp_path, "compute:\n  - sips: [1]\n    slowdown: 2.0\n")
    argv = [*RUN, "--sips", "4", "--bench", "dp_step", *DP_STEP_SMALL, "--set=overlap=false"]
    code, (line,) = json_of(capsys, [*argv, "--scenario", slow, "--compare", "--json"])
    assert code == 0
    assert line["status"] == "PASS"
    assert line["scenario"] == {"file": slow, "summary": "sip1 2x slower"}
    base, what = line["compare"]["baseline"], line["compare"]["scenario"]
    waited = line["results"][0]["metrics"]["max_compute_ns"] - base["slowest"]["compute_ns"]  # sip1's extra compute
    assert waited > 0.2 * base["slowest"]["compute_ns"]
    grew = what["slowest"]["step_ns"] - base["slowest"]["step_ns"]
    assert waited <= grew <= 1.15 * waited  # the step waits for sip1 (and its slower part of the all-reduces)
    assert what["slowest"]["rank"] != 1  # a fast rank: it computes as before and waits longer
    assert what["slowest"]["compute_ns"] == base["slowest"]["compute_ns"]
    assert what["slowest"]["exposed_comm_ns"] - base["slowest"]["exposed_comm_ns"] == pytest.approx(grew)


def test_the_text_report_says_the_scenario_and_what_it_changed(tmp_path, capsys):
    slow = scenario(tmp_path, "compute:\n  - sips: [1]\n    slowdown: 3.0\n")
    assert main([*RUN, "--bench", "ccl_allreduce", "--scenario", slow, "--compare"]) == 0
    out = capsys.readouterr().out
    assert f"  scenario     {slow}: sip1 3x slower\n" in out
    assert "  what-if: without the scenario -> with it (PASS -> PASS)\n" in out
    assert "    slowest rank (rank " in out
    assert "step" in out.split("what-if")[1]


@pytest.mark.parametrize(
    ("kind", "sips", "link", "detour"), [("ring_1d", 8, "[2, 3]", 7), ("torus_2d", 16, "[5, 6]", 3)]
)
def test_a_ring_all_reduce_round_a_failed_link_sums_exactly_and_is_slower(tmp_path, capsys, kind, sips, link, detour):
    down = scenario(tmp_path, f"links:\n  - between: {link}\n    down: true\n")
    argv = [*RUN, "--sips", str(sips), "--sip-topology", kind, "--bench", "ccl_allreduce"]
    argv += ["--algorithm", "ring_allreduce_tcm", "--set", "n_elem=65536", "--scenario", down, "--compare", "--json"]
    code, (line,) = json_of(capsys, argv)
    assert code == 0
    assert line["results"][0]["checks"] == {"exact_sum_on_every_shard": True, "same_bits_on_every_rank": True}
    a, b = link[1:-1].split(", ")
    assert line["scenario"]["summary"] == f"link {a}-{b} down ({a}->{b} over {detour} links)"
    compare = line["compare"]
    assert compare["scenario"]["slowest"]["step_ns"] > compare["baseline"]["slowest"]["step_ns"]


def test_a_link_at_a_quarter_of_the_rate_takes_the_ring_to_a_quarter_of_its_busbw(tmp_path, capsys):
    slow = scenario(tmp_path, "links:\n  - between: [1, 2]\n    bandwidth_gbs: 25.0\n")
    argv = ["ccl-perf", "--topology", str(DEFAULT_TOPOLOGY), "--sips", "4", "--algorithm", "ring_allreduce_tcm"]
    code, lines = json_of(
        capsys, [*argv, "--min-bytes", "2M", "--max-bytes", "2M", "--scenario", slow, "--compare", "--json"]
    )
    assert code == 0
    point = lines[0]
    assert point["scenario"] == "link 1-2 25 GB/s"
    assert point["wrong"] == 0
    assert 0.25 <= point["busbw_gbs"] / point["baseline_busbw_gbs"] <= 0.3
    assert point["sim_over_model"] == pytest.approx(1.0, abs=0.05)  # the reference runs the ring at 25 GB/s too
    assert main([*argv, "--max-bytes", "64K", "--scenario", slow, "--compare"]) == 0
    text = capsys.readouterr().out
    assert f"# scenario: {slow}: link 1-2 25 GB/s\n" in text
    assert "# what-if: without the scenario -> with it\n" in text


@pytest.mark.parametrize(
    ("command", "text", "extra", "message"),
    [
        ("run", None, ["--bench", "ccl_allreduce", "--compare"], "--compare: needs --scenario FILE"),
        ("ccl-perf", None, ["--compare"], "--compare: needs --scenario FILE"),
        ("run", "links: [{between: [0, 1], down: true}]", ["--bench", "ccl_allreduce"], "links: with links 0-1 down"),
        ("run", "jobs: [{bench: ccl_allreduce, sips: [0]}]", ["--bench", "ccl_allreduce"], "drop --bench"),
        ("run", "compute: [{sips: [0], slowdown: 2.0}]", [], "has no jobs: give --bench NAME"),
        (
            "run",
            "jobs: [{bench: ccl_allreduce, sips: [0]}]",
            ["--set", "n_elem=4"],
            "--set: not with a scenario's jobs",
        ),
        ("run", "jobs: [{bench: gemm_single_pe, sips: [0]}]", [], "jobs[0].bench: bench 'gemm_single_pe' runs on each"),
        ("run", "jobs: [{bench: nope, sips: [0]}]", [], "jobs[0].bench: unknown bench 'nope'"),
        ("run", "jobs: [{bench: ccl_allreduce, sips: [0], params: {n: 1}}]", [], "jobs[0].params: n=1: bench ccl_allr"),
        ("run", "jobs: [{bench: dp_step, sips: [0], algorithm: nope}]", [], "jobs[0].algorithm: --algorithm 'nope'"),
        ("ccl-perf", "jobs: [{bench: ccl_allreduce, sips: [0]}]", [], "jobs: ccl-perf sweeps one collective"),
    ],
)
def test_bad_scenario_options_are_one_line_and_exit_2(tmp_path, capsys, command, text, extra, message):
    argv = [command, "--topology", str(DEFAULT_TOPOLOGY)] + (["--scenario", scenario(tmp_path, text)] if text else [])
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
