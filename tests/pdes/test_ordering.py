"""Determinism rules: message order at equal timestamps, exact timestamps, per-LP RNG."""

import pytest

from pdes import Model, Simulation
from pdes.clock import URGENT

from .models import chatter_model, fan_in_model

LAYOUTS = [dict(ranks=1), dict(ranks=2), dict(ranks=3, partition="round_robin"), dict(ranks=5)]


def sink_log(**options):
    return Simulation(fan_in_model(), **options).run().results["sink"]


def test_equal_timestamp_messages_come_in_source_then_send_order_before_local_events():
    log = sink_log()
    at_5 = [entry for entry in log if entry[1] == 5.0]
    expected = [["msg", 5.0, f"src{k}", [k, i]] for k in range(4) for i in range(3)] + [["local", 5.0]]
    assert at_5 == expected
    assert len(log) == 2 * 13


@pytest.mark.parametrize("options", [*LAYOUTS, dict(ranks=2, sync="window"), dict(ranks=4, sync="window")])
def test_fan_in_order_is_the_same_for_every_partition(options):
    assert sink_log(**options) == sink_log()


@pytest.mark.parametrize("options", [*LAYOUTS, dict(ranks=3, sync="window")])
def test_chatter_results_and_lp_stats_are_partition_independent(options):
    reference = Simulation(chatter_model()).run()
    run = Simulation(chatter_model(), **options).run()
    assert run.results == reference.results
    for name, stats in reference.lps.items():
        assert {k: v for k, v in run.lps[name].items() if k != "rank"} == {
            k: v for k, v in stats.items() if k != "rank"
        }
    assert sum(len(s["log"]) for s in run.results.values()) > 40


def test_receiver_sees_exactly_the_timestamp_the_sender_computed():
    # Times where now + (ts - now) != ts: scheduling by delay would round differently.
    m = Model()
    sent, seen = [], []

    def sender(lp):
        def fire(_event):
            sent.append(lp.send("rx", None, delay=0.1 * len(sent) / 7))
            if len(sent) < 200:
                lp.env.call_at(lp.now + 0.1 / 3, fire)

        lp.env.call_at(0.1, fire)

    def receiver(lp):
        lp.on_receive(lambda message: seen.append((message.timestamp, lp.now)))

        # A local clock that keeps the receiver's `now` at odd values.
        def tick(_event):
            if lp.now < 10:
                lp.env.call_at(lp.now + 0.07, tick)

        lp.env.call_at(0.0, tick)

    m.add_lp("tx", sender)
    m.add_lp("rx", receiver)
    m.add_link("tx", "rx", 0.3)
    Simulation(m, ranks=2).run()
    assert [ts for ts, _ in seen] == sent
    assert all(ts == now for ts, now in seen)


def test_rng_depends_on_seed_and_name_only():
    def draws(seed, names, **options):
        m = Model(seed=seed)
        for name in names:
            m.add_lp(name, lambda lp: lp.rng.random(3).tolist(), report=lambda s: s)
        return Simulation(m, **options).run().results

    base = draws(5, ["x", "y", "z"])
    assert draws(5, ["z", "y", "x"], ranks=3) == base  # declaration order and rank do not matter
    assert base["x"] != base["y"]
    assert draws(6, ["x"])["x"] != base["x"]


@pytest.mark.parametrize("ranks", [1, 2])
def test_messages_come_before_local_events_scheduled_urgent_at_the_same_time(ranks):
    m = Model()
    log = []

    def sender(lp):
        lp.env.call_at(1.0, lambda _e: [lp.send("rx", i) for i in range(2)])

    def receiver(lp):
        lp.on_receive(lambda message: log.append(["msg", message.payload]))
        lp.env.call_at(3.0, lambda _e: log.append(["urgent"]), priority=URGENT)
        lp.env.call_at(3.0, lambda _e: log.append(["normal"]))

    m.add_lp("tx", sender)
    m.add_lp("rx", receiver)
    m.add_link("tx", "rx", 2.0)
    Simulation(m, ranks=ranks).run()
    assert log == [["msg", 0], ["msg", 1], ["urgent"], ["normal"]]


@pytest.mark.parametrize("ranks", [1, 2])
def test_payloads_are_copied_even_between_lps_of_one_process(ranks):
    m = Model()
    seen = []

    def sender(lp):
        box = {"items": [1]}

        def fire(_event):
            lp.send("rx", box)
            lp.send("rx", ("a", 1))
            box["items"].append(2)  # after sending: the receiver must not see it

        lp.env.call_at(1.0, fire)
        return box

    def receiver(lp):
        def handle(message):
            seen.append(message.payload)
            if isinstance(message.payload, dict):
                message.payload["items"].append(99)  # the sender's object must not change

        lp.on_receive(handle)

    m.add_lp("tx", sender, report=lambda box: box)
    m.add_lp("rx", receiver)
    m.add_link("tx", "rx", 1.0)
    result = Simulation(m, ranks=ranks).run()
    assert seen == [{"items": [1, 99]}, ["a", 1]]
    assert result.results["tx"] == {"items": [1, 2]}


@pytest.mark.parametrize("ranks", [2, 3])
def test_gathered_lp_states_of_virtual_ranks_equal_one_process(ranks):
    """`Simulation.gather` brings every LP's value to rank 0; virtual ranks share the process, so it gets them."""
    single = Simulation(chatter_model())
    single.run()
    split = Simulation(chatter_model(), ranks=ranks, partition="round_robin")
    split.run()
    assert split.gather(repr) == single.gather(repr)
    assert list(split.gather(len)) == split.model.lp_names
