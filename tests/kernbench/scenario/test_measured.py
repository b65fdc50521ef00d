"""The measured what-if figures of docs/guides/what-if.md (issue 25's "done when"), pinned on the systems they were
measured on. Simulated times are deterministic (not the machine's): a model change that moves one of them must
update the guide too.

- a 16-SIP torus data-parallel step with SIP 3 2x slower: the step grows, and every other rank's exposed
  communication grows by exactly its step's growth (its compute does not change), the rank that waits longest by
  SIP 3's lateness into the all-reduce;
- a ring all-reduce on a 16-SIP torus with link 5-6 down (from the start, or from 20 us): exact sums, slower;
- the same ring with link 5-6 at 25 GB/s: ``ccl-perf`` busbw at 8 MiB a quarter of the healthy ring's;
- two 8-SIP ring all-reduces on a 16-SIP ring: 1.953x each, interleaved; 1.000x side by side.
"""

import json

import pytest

from kernbench.ccl import load_ccl_config
from kernbench.cli.main import main
from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.scenario import parse_scenario
from kernbench.topology import load_topology
from tests.kernbench.helpers import DEFAULT_TOPOLOGY, load_script, with_sips

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]  # 16-SIP runs: about a minute of CPU in all

TORUS16 = ["--topology", str(DEFAULT_TOPOLOGY), "--sips", "16", "--sip-topology", "torus_2d"]
RING = ["--algorithm", "ring_allreduce_tcm"]
STEP = {"hidden": 128, "batch": 16, "cubes": 1}
NS = 0.01  # the figures below are the JSON's, to the hundredth of a nanosecond


def json_lines(capsys, argv: list[str]) -> list[dict]:
    assert main([*argv, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture(scope="module")
def steps() -> dict[str, dict[int, dict]]:
    """Each rank's breakdown of dp_step (``--set hidden=128 --set batch=16 --set cubes=1``) on a 16-SIP torus:
    ideal, with SIP 3 2x slower, and with 10 % compute jitter."""
    topo = with_sips(load_topology(DEFAULT_TOPOLOGY), 16, "torus_2d")
    bench = load_script("kernbench/benches/dp_step.py")
    scenarios = {
        "ideal": None,
        "straggler": {"compute": [{"sips": [3], "slowdown": 2.0}]},
        "jitter": {"jitter": {"compute": 0.1, "seed": 1}},
    }
    out = {}
    for name, data in scenarios.items():
        eng = Engine(topo, scenario=parse_scenario(data, topo)) if data else Engine(topo)
        torch = RuntimeContext(eng, load_ccl_config())
        metrics = bench.run(torch, **STEP)
        assert all(metrics["checks"].values()), metrics["checks"]
        out[name] = torch.multiprocessing.results
    return out


def test_a_2x_slower_sip_delays_the_step_by_the_time_the_others_wait_for_it(steps):
    """SIP 3 reaches the gradient all-reduce 7.343 us late (its compute: 20.360 -> 27.703 us). No other rank's
    compute changes, so all its step's growth is exposed communication: time spent waiting, in the all-reduce, for
    data that has to pass SIP 3. How long a rank waits depends on where SIP 3 sits in the ring (rank r sends to
    r + 1): the last chunk rank r receives is chunk r + 2, whose reduction starts on rank r + 2 and reaches SIP 3
    after (3 - r - 2) mod 16 hops; the later SIP 3 joins it, the more of the ring the others did meanwhile. Rank 1's
    last chunk starts on SIP 3 itself: it waits all of SIP 3's lateness, plus SIP 3's own slower part of the ring
    (0.172 us), and is the slowest rank; rank 2's joins SIP 3 last, and it waits 0.115 us."""
    ideal, slow = steps["ideal"], steps["straggler"]
    step = {name: max(r["step_ns"] for r in ranks.values()) for name, ranks in steps.items()}
    assert step["ideal"] == pytest.approx(47230.49, abs=NS)
    assert step["straggler"] == pytest.approx(54745.989, abs=NS)
    late = slow[3]["compute_ns"] - ideal[3]["compute_ns"]
    assert (ideal[3]["compute_ns"], slow[3]["compute_ns"]) == pytest.approx((20359.81, 27703.3), abs=0.1)
    waits = {}
    for r in range(16):
        if r == 3:
            continue
        assert slow[r]["compute_ns"] == pytest.approx(ideal[r]["compute_ns"], abs=1e-6)
        grew = slow[r]["step_ns"] - ideal[r]["step_ns"]
        waits[r] = slow[r]["exposed_comm_ns"] - ideal[r]["exposed_comm_ns"]
        assert waits[r] == pytest.approx(grew, abs=1e-6)
        assert waits[r] > 0
    by_position = sorted(waits, key=lambda r: (3 - r - 2) % 16)  # 1, 0, 15, 14, ..., 4, 2
    assert [waits[r] for r in by_position] == sorted(waits.values(), reverse=True)
    assert by_position[0] == max(slow, key=lambda r: slow[r]["step_ns"]) == 1
    assert late < waits[1] < 1.03 * late
    assert waits[1] == pytest.approx(7515.5, abs=0.1)
    assert waits[2] == pytest.approx(114.7, abs=0.1)
    median = {name: sorted(ranks, key=lambda r: (ranks[r]["step_ns"], r))[7] for name, ranks in steps.items()}
    assert (median["ideal"], median["straggler"]) == (15, 9)  # what --compare reports beside the slowest
    assert ideal[15]["step_ns"] == pytest.approx(46727.49, abs=NS)
    assert slow[9]["step_ns"] == pytest.approx(50785.059, abs=NS)


def test_jitter_moves_the_step_a_little(steps):
    jittered = steps["jitter"]
    assert max(r["step_ns"] for r in jittered.values()) == pytest.approx(47282.87, abs=NS)
    assert max(r["compute_ns"] for r in jittered.values()) == pytest.approx(20400.3, abs=0.1)
    assert len({r["compute_ns"] for r in jittered.values()}) == 16  # every rank its own draws


@pytest.mark.parametrize(
    ("link", "summary", "slowest", "median"),
    [
        ("down: true", "link 5-6 down (5->6 over 3 links)", (0, 48898.88), (11, 48395.9)),
        (
            "down: true\n    from_us: 20.0",
            "link 5-6 down from 20 us (5->6 over 3 links)",
            (14, 49401.88),
            (11, 48395.9),
        ),
    ],
    ids=["from-the-start", "at-20-us"],
)
def test_a_ring_all_reduce_on_a_16_sip_torus_round_a_failed_link(tmp_path, capsys, link, summary, slowest, median):
    path = tmp_path / "link_down.yaml"
    path.write_text(f"links:\n  - between: [5, 6]\n    {link}\n")
    argv = ["run", *TORUS16, "--bench", "ccl_allreduce", *RING, "--set", "n_elem=262144"]
    (line,) = json_lines(capsys, [*argv, "--scenario", str(path), "--compare"])
    assert line["scenario"]["summary"] == summary
    assert line["results"][0]["checks"] == {"exact_sum_on_every_shard": True, "same_bits_on_every_rank": True}
    base, what = line["compare"]["baseline"], line["compare"]["scenario"]
    assert base["slowest"]["step_ns"] == pytest.approx(46887.0, abs=1)
    assert (what["slowest"]["rank"], what["slowest"]["step_ns"]) == (slowest[0], pytest.approx(slowest[1], abs=0.1))
    assert (what["median"]["rank"], what["median"]["step_ns"]) == (median[0], pytest.approx(median[1], abs=0.1))


def test_a_link_at_25_gbs_takes_the_ring_to_a_quarter_of_its_busbw(tmp_path, capsys):
    path = tmp_path / "slow_link.yaml"
    path.write_text("links:\n  - between: [5, 6]\n    bandwidth_gbs: 25.0\n")
    argv = ["ccl-perf", *TORUS16, *RING, "--min-bytes", "8M", "--max-bytes", "8M", "--scenario", str(path)]
    point, _avg = json_lines(capsys, [*argv, "--compare"])
    assert point["wrong"] == 0
    assert (point["baseline_busbw_gbs"], point["busbw_gbs"]) == (
        pytest.approx(98.00, abs=0.01),
        pytest.approx(24.90, abs=0.01),
    )
    assert 0.25 <= point["busbw_gbs"] / point["baseline_busbw_gbs"] <= 0.26
    assert point["sim_over_model"] == pytest.approx(1.002, abs=0.001)


@pytest.mark.parametrize(
    ("first", "second", "alone", "shared"),
    [
        (list(range(0, 16, 2)), list(range(1, 16, 2)), 76412, 149252),
        (list(range(8)), list(range(8, 16)), 135803, 135803),
    ],
    ids=["interleaved", "side-by-side"],
)
def test_two_8_sip_ring_all_reduces_on_a_16_sip_ring(tmp_path, capsys, first, second, alone, shared):
    """Interleaved, every link of the 16-SIP ring carries both jobs' hops: each takes 1.953x as long as alone. Side
    by side no link carries both (each ring's closing hop goes back over its own seven links): 1.000x."""
    path = tmp_path / "two_jobs.yaml"
    path.write_text(
        "jobs:\n"
        + "".join(
            f"  - bench: ccl_allreduce\n    sips: {sips}\n    params: {{n_elem: 1048576}}\n" for sips in (first, second)
        )
    )
    argv = ["run", "--topology", str(DEFAULT_TOPOLOGY), "--sips", "16", *RING, "--scenario", str(path)]
    (line,) = json_lines(capsys, argv)
    assert line["status"] == "PASS"
    for job in line["jobs"]:
        assert job["checks"] == {"exact_sum_on_every_shard": True, "same_bits_on_every_rank": True}
        assert (job["alone_ns"], job["sim_latency_ns"]) == (pytest.approx(alone, abs=1), pytest.approx(shared, abs=1))
        assert job["slowdown"] == pytest.approx(shared / alone, abs=1e-3)
