"""run(until) and run() semantics, clock jumps over idle gaps, statistics."""

import math

import pytest

import pdes.sync
from pdes import Model, Simulation
from pdes.engine import diameter
from pdes.phold import PholdParams, run_pdes

from .models import chatter_model, failing_model, ring_model


def test_run_until_stops_before_until_and_can_continue():
    m = Model()

    def build(lp):
        log = []
        for t in (1.0, 5.0, 5.0, 9.0):
            lp.env.call_at(t, lambda _e: log.append(lp.now))
        return log

    m.add_lp("solo", build, report=list)
    sim = Simulation(m)
    first = sim.run(until=5.0)
    assert first.results["solo"] == [1.0]
    assert sim.lp("solo").now == 5.0
    second = sim.run()
    assert second.results["solo"] == [1.0, 5.0, 5.0, 9.0]


@pytest.mark.parametrize("ranks", [1, 3])
def test_split_runs_equal_one_run(ranks):
    whole = Simulation(chatter_model(), ranks=ranks).run().results
    sim = Simulation(chatter_model(), ranks=ranks)
    sim.run(until=1.7)
    sim.run(until=3.1)
    assert sim.run().results == whole


@pytest.mark.parametrize("sync", ["null", "window"])
def test_idle_gaps_are_jumped_not_crept_through(sync, monkeypatch):
    """Rounds end on a wall-clock budget too (a slow machine makes more of them): with no budget the count is the
    model's alone, at most 3 per send time (the send, its receipt, a null message naming the next time)."""
    monkeypatch.setattr(pdes.sync, "ROUND_BUDGET_S", math.inf)
    m = Model()
    times = [0.0, 1e6, 2e6]

    def build(lp):
        lp.on_receive(lambda _msg: None)
        for t in times:
            lp.env.call_at(t, lambda _e: lp.send(lp.ports[0], None))

    m.add_lp("a", build)
    m.add_lp("b", build)
    m.add_link("a", "b", 1.0)
    m.add_link("b", "a", 1.0)
    result = Simulation(m, ranks=2, sync=sync).run()
    assert result.stats["totals"]["events"] == 2 * len(times) * 2
    assert max(r["rounds"] for r in result.ranks) <= 3 * len(times)  # creeping by 1.0 would take 2e6 rounds


def test_the_reduction_lags_by_the_rank_graphs_diameter_and_results_do_not_change(monkeypatch):
    """8 ranks in a ring wait for a reduction 4 rounds after starting it (the ring's diameter); the run ends
    and jumps idle gaps that many rounds later than with a lag of 1, with the same results."""
    monkeypatch.setattr(pdes.sync, "ROUND_BUDGET_S", math.inf)
    times = [0.0, 1e6, 2e6]
    whole = Simulation(ring_model(8, times)).run()
    sim = Simulation(ring_model(8, times), ranks=8)
    assert [e.strategy.reduction_lag for e in sim.engines] == [4] * 8
    spread = sim.run()
    assert spread.results == whole.results
    assert spread.results["p1"] == [[t + 1.0, "p0"] for t in times]  # reports travel as msgpack: lists
    assert max(r["rounds"] for r in spread.ranks) <= len(times) * (4 + 3)  # creeping would take 2e6 rounds
    assert spread.ranks[0]["reductions"] == spread.ranks[0]["rounds"]  # every reduction started is finished
    grid = ring_model(8, times)
    grid.declare_grid(4, 2)  # the ring laid out as 4 x 2 tiles of 1 x 2: the same results
    assert Simulation(grid, ranks=4, partition="tiles").run().results == whole.results


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({}, 0),
        ({0: {1}, 1: {0}}, 1),
        ({r: {(r - 1) % 8, (r + 1) % 8} for r in range(8)}, 4),  # ring
        ({0: {1}, 1: {0, 2}, 2: {1, 3}, 3: {2}}, 3),  # line
        (
            {
                r: {(r // 4) * 4 + (r + 1) % 4, (r // 4) * 4 + (r - 1) % 4, (r + 4) % 16, (r - 4) % 16}
                for r in range(16)
            },
            4,
        ),
        ({r: set(range(5)) - {r} for r in range(5)}, 1),  # all-to-all
    ],
)
def test_diameter_of_the_rank_graph(graph, expected):
    assert diameter(graph) == expected


def test_stats_count_what_happened():
    params = PholdParams(lps=8, events_per_lp=2, remote=0.5, seed=1)
    _, events, _, single = run_pdes(params, until=50)
    _, _, _, split = run_pdes(params, until=50, ranks=2)
    assert single.stats["totals"]["real_msgs"] == split.stats["totals"]["real_msgs"] > 0
    assert single.stats["totals"]["null_msgs"] == 0 < split.stats["totals"]["null_msgs"]
    assert split.stats["totals"]["remote_msgs_sent"] > 0
    assert sum(r["lps"] for r in split.ranks) == 8
    assert sum(s["events"] for s in split.lps.values()) == split.stats["totals"]["events"] >= events


def test_model_exception_names_lp_and_rank_and_stops_every_rank():
    with pytest.raises(ZeroDivisionError) as info:
        Simulation(failing_model("c"), ranks=4).run()
    assert "LP 'c' on rank 2" in "".join(info.value.__notes__)


@pytest.mark.parametrize("ranks", [1, 2])
def test_a_failed_event_nobody_handles_fails_the_run_like_plain_simpy(ranks):
    m = Model()

    def build(lp):
        lp.env.call_at(1.0, lambda _e: lp.env.event().fail(LookupError("unhandled")))

    m.add_lp("a", build)
    m.add_lp("b", lambda _lp: None)
    with pytest.raises(LookupError, match="unhandled") as info:
        Simulation(m, ranks=ranks).run()
    assert isinstance(info.value.__cause__, LookupError)
    assert "LP 'a' on rank 0" in "".join(info.value.__notes__)


def test_a_handler_set_later_also_serves_messages_already_queued():
    m = Model()
    seen = []

    def tx(lp):
        lp.env.call_at(1.0, lambda _e: lp.send("rx", "hello"))

    def rx(lp):
        lp.on_receive(lambda msg: seen.append(["first", msg.payload]))
        lp.env.call_at(1.5, lambda _e: lp.on_receive(lambda msg: seen.append(["second", msg.payload, msg.src])))

    m.add_lp("tx", tx)
    m.add_lp("rx", rx)
    m.add_link("tx", "rx", 2.0)
    Simulation(m).run()
    assert seen == [["second", "hello", "tx"]]
