"""Host workers: sequential host code inside the simulation."""

import pytest
import simpy

from pdes import Model, Simulation, SimulationDeadlock

from .models import LAT_AB, LAT_BA, deadlock_model, ping_pong_model, ping_pong_worker


@pytest.mark.parametrize("options", [dict(), dict(ranks=2), dict(ranks=2, sync="window")])
def test_ping_pong_timing_is_exact(options):
    sim = Simulation(ping_pong_model(), **options)
    worker = sim.spawn_worker("a", ping_pong_worker(sim))
    sim.run()
    assert worker.done
    # Recompute with the engine's arithmetic: each hop is (t + latency) + delay.
    t, expected = 0.0, []
    for i in range(4):
        t_b = t + LAT_AB + 0.0
        t = t_b + LAT_BA + 0.25
        expected.append([t, i * 10 + 1])
        t = t + 1.0
    assert worker.value == expected


def test_worker_sees_failed_event_as_exception_and_can_handle_it():
    m = Model()
    m.add_lp("solo", lambda _lp: None)
    sim = Simulation(m)

    def worker(lp):
        event = lp.env.event()
        lp.env.call_at(2.0, lambda _e: event.fail(KeyError("nope")))
        try:
            sim.wait(event)
        except KeyError as exc:
            return ["caught", str(exc), lp.now]

    w = sim.spawn_worker("solo", worker)
    sim.run()
    assert w.value == ["caught", "'nope'", 2.0]


def test_worker_exception_is_raised_with_lp_and_rank():
    m = Model()
    m.add_lp("x", lambda _lp: None)
    m.add_lp("y", lambda _lp: None)
    sim = Simulation(m, ranks=2)

    def worker(lp):
        sim.wait(lp.env.timeout(3))
        raise ArithmeticError("bad host code")

    sim.spawn_worker("y", worker)
    with pytest.raises(ArithmeticError, match="bad host code") as info:
        sim.run()
    assert "LP 'y' on rank 1" in "".join(info.value.__notes__)


@pytest.mark.parametrize("ranks", [1, 2])
def test_deadlock_is_detected_and_lists_blocked_workers(ranks):
    sim = Simulation(deadlock_model(), ranks=ranks)
    for name in ("left", "right"):
        sim.spawn_worker(name, lambda lp: sim.wait(lp.state.get()), name=f"wait-{name}")
    with pytest.raises(SimulationDeadlock) as info:
        sim.run()
    assert {w["worker"] for w in info.value.blocked} == {"wait-left", "wait-right"}
    assert "StoreGet" in str(info.value)
    assert "LP 'left'" in str(info.value)


def test_wait_outside_a_worker_or_on_a_foreign_lp_is_an_error():
    sim = Simulation(deadlock_model())
    with pytest.raises(RuntimeError, match="inside a host worker"):
        sim.wait(sim.lp("left").env.timeout(1))
    other = sim.lp("right").env

    def worker(_lp):
        sim.wait(other.timeout(1))

    sim.spawn_worker("left", worker)
    with pytest.raises(RuntimeError, match="only wait on events of its own LP 'left'"):
        sim.run()


def test_workers_run_to_block_before_time_advances():
    m = Model()
    m.add_lp("solo", lambda lp: simpy.Store(lp.env))
    sim = Simulation(m)
    trace = []

    def producer(lp):
        for i in range(3):
            trace.append(("put", lp.now))
            lp.state.put(i)
            sim.wait(lp.env.timeout(1))

    def consumer(lp):
        for _ in range(3):
            item = sim.wait(lp.state.get())
            trace.append(("got", item, lp.now))

    sim.spawn_worker("solo", producer)
    sim.spawn_worker("solo", consumer)
    sim.run()
    assert trace == [("put", 0), ("got", 0, 0), ("put", 1), ("got", 1, 1), ("put", 2), ("got", 2, 2)]


def test_current_lp_names_the_worker_lp_and_refuses_outside_a_worker():
    sim = Simulation(ping_pong_model(), transport="local", ranks=2)
    seen = []
    sim.spawn_worker("b", lambda lp: seen.append((sim.current_lp() is lp, sim.current_lp().name)))
    sim.run()
    assert seen == [(True, "b")]
    with pytest.raises(RuntimeError, match=r"current_lp\(\) must be called from inside a host worker"):
        sim.current_lp()


@pytest.mark.parametrize("ranks", [1, 2])
def test_worker_return_values_reach_every_rank(ranks):
    sim = Simulation(ping_pong_model(), transport="local", ranks=ranks)
    sim.spawn_worker("a", lambda lp: {"lp": lp.name, "t": lp.now}, name="first")
    sim.spawn_worker("b", lambda lp: [lp.name], name="second")
    result = sim.run()
    assert result.workers == {"first": {"lp": "a", "t": 0.0}, "second": ["b"]}
