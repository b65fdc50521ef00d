"""Scenario files: every key read into the scenario, and every mistake one line naming the file and YAML path."""

import pytest

from kernbench.scenario import Job, LinkChange, ScenarioError, load_scenario, parse_scenario
from tests.kernbench.helpers import with_sips

FULL = """
compute:
  - sips: [3]
    slowdown: 2.0
  - sips: [7, 8]
    slowdown: 0.5
links:
  - between: [6, 5]
    bandwidth_gbs: 25.0
  - between: [9, 10]
    down: true
  - between: [1, 2]
    down: true
    from_us: 20.0
jitter:
  compute: 0.05
  seed: 1
jobs:
  - bench: ccl_allreduce
    sips: [0, 2]
    params: {n_elem: 4096}
    algorithm: ring_allreduce_tcm
  - bench: dp_step
    sips: [1, 3]
"""


@pytest.fixture
def torus(topo):
    return with_sips(topo, 16, "torus_2d")


def test_every_key_is_read(tmp_path, torus):
    path = tmp_path / "what_if.yaml"
    path.write_text(FULL)
    s = load_scenario(path, torus)
    assert s.source == str(path)
    assert s.slowdowns == ((3, 2.0), (7, 0.5), (8, 0.5))
    assert [s.slowdown(sip) for sip in (3, 7, 0)] == [2.0, 0.5, 1.0]
    assert s.links == (LinkChange(5, 6, 25.0), LinkChange(9, 10, None, 0.0), LinkChange(1, 2, None, 20_000.0))
    assert s.rate(6, 5) == s.rate(5, 6) == 25.0
    assert s.rate(9, 10) is None
    assert s.down_at(0.0) == frozenset({(9, 10)})
    assert s.down_at(20_000.0) == s.down_ever == frozenset({(9, 10), (1, 2)})
    assert (s.jitter, s.jitter_seed) == (0.05, 1)
    assert s.jobs == (
        Job("ccl_allreduce", (0, 2), (("n_elem", 4096),), "ring_allreduce_tcm"),
        Job("dp_step", (1, 3)),
    )
    assert s.fabric_only.jobs == ()
    assert s.fabric_only.links == s.links
    assert s.summary(torus.system) == (
        "sip3 2x slower; sip7 2x faster; sip8 2x faster; link 5-6 25 GB/s; link 9-10 down (9->10 over 3 links); "
        "link 1-2 down from 20 us (1->2 over 3 links); compute jitter 5% (seed 1); job ccl_allreduce@0,2; "
        "job dp_step@1,3"
    )


def test_an_empty_file_changes_nothing(tmp_path, torus):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_scenario(path, torus).empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("speed: 1", "speed: unknown key; allowed keys in the top level: compute, links, jitter, jobs"),
        ("compute: []", "compute: expected a non-empty list, got an empty list"),
        ("compute: [{sips: [3]}]", "compute[0].slowdown: missing required key"),
        ("compute: [{sips: [3], slowdown: 0}]", "compute[0].slowdown: expected a number > 0, got 0"),
        ("compute: [{sips: [16], slowdown: 2.0}]", "compute[0].sips[0]: expected an integer 0..15, got 16 (int)"),
        ("compute: [{sips: [1, 1], slowdown: 2.0}]", "compute[0].sips[1]: sip1 is listed twice"),
        (
            "compute: [{sips: [1], slowdown: 2.0}, {sips: [2, 1], slowdown: 3.0}]",
            "compute[1].sips[1]: sip1 already has a slowdown (an earlier compute entry)",
        ),
        ("compute: [{sips: [1], slowdown: .inf}]", "compute[0].slowdown: expected a finite number, got inf (float)"),
        ("links: [{between: [5, 7], down: true}]", "links[0].between: sip5 and sip7 are not linked in torus_2d"),
        ("links: [{between: [5], down: true}]", "links[0].between: expected two SIPs, got 1"),
        ("links: [{between: [5, 6]}]", "links[0]: expected bandwidth_gbs (a degraded link) or down: true"),
        ("links: [{between: [5, 6], down: yes please}]", "links[0].down: expected true or false"),
        ("links: [{between: [5, 6], bandwidth_gbs: -1.0}]", "links[0].bandwidth_gbs: expected a number > 0, got -1"),
        ("links: [{between: [5, 6], bandwidth_gbs: 1.0, from_us: 3.0}]", "links[0].from_us: only a link that goes"),
        ("links: [{between: [5, 6], down: true, from_us: -3.0}]", "links[0].from_us: expected a number >= 0"),
        (
            "links: [{between: [5, 6], down: true}, {between: [6, 5], bandwidth_gbs: 2.0}]",
            "links[1].between: link 5-6 is already changed by an earlier entry",
        ),
        ("links: [{between: [5, 6], latency_ns: 9.0}]", "links[0].latency_ns: unknown key; allowed keys in links[0]"),
        ("jitter: {seed: 1}", "jitter.compute: missing required key"),
        ("jitter: {compute: -0.1}", "jitter.compute: expected a number >= 0, got -0.1"),
        ("jitter: {compute: 0.1, seed: -1}", "jitter.seed: expected an integer 0..18446744073709551615, got -1"),
        ("jobs: [{bench: ccl_allreduce}]", "jobs[0].sips: missing required key"),
        ("jobs: [{bench: '', sips: [0]}]", "jobs[0].bench: expected a non-empty string, got '' (str)"),
        (
            "jobs: [{bench: a, sips: [0, 1]}, {bench: b, sips: [2, 1]}]",
            "jobs[1].sips[1]: sip1 already runs jobs[0]: jobs take disjoint SIPs",
        ),
        ("jobs: [{bench: a, sips: [0], params: [1]}]", "jobs[0].params: expected a mapping of parameter name"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_yaml_path(tmp_path, torus, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, torus)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_a_system_split_in_two_is_refused_before_the_run(topo):
    ring = with_sips(topo, 8)
    with pytest.raises(ScenarioError, match=r"^s.yaml: links: with links 2-3, 5-6 down the system is split in two: "):
        parse_scenario(
            {"links": [{"between": [2, 3], "down": True}, {"between": [6, 5], "down": True}]}, ring, "s.yaml"
        )
    # links that fail later count too: the run could not finish its traffic after them
    torus = with_sips(topo, 16, "torus_2d")
    around_5 = [{"between": [5, other], "down": True, "from_us": 10.0 * i} for i, other in enumerate((4, 6, 1, 9))]
    with pytest.raises(ScenarioError, match="sip5 cannot reach sip0"):
        parse_scenario({"links": around_5}, torus, "s.yaml")


def test_yaml_problems_come_from_the_shared_reader(tmp_path, torus):
    path = tmp_path / "dup.yaml"
    path.write_text("jitter: {compute: 0.1}\njitter: {compute: 0.2}\n")
    with pytest.raises(ScenarioError, match=r"dup.yaml:2:1: duplicate key 'jitter'"):
        load_scenario(path, torus)
    with pytest.raises(ScenarioError, match="cannot read: a directory"):
        load_scenario(tmp_path, torus)
