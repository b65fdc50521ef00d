"""Simulation.settle, ended runs and deadlock reports, on virtual ranks in one process."""

import pytest

from pdes import ModelError, RemoteError, Simulation, SimulationDeadlock

from .models import deadlock_model, failing_model, ping_pong_model, ping_pong_worker


def on_two_ranks(sim: Simulation, first, second) -> list:
    """Run ``first(engine 0)`` and ``second(engine 1)`` as the two virtual ranks; their (ok, value) outcomes."""
    engines = sim.engines
    return sim._world.run([lambda: first(engines[0]), lambda: second(engines[1])])


def test_settle_without_failures_returns_and_the_simulation_runs_on():
    sim = Simulation(ping_pong_model(), ranks=2)
    sim.settle()
    sim.spawn_worker("a", ping_pong_worker(sim), name="w")
    assert len(sim.run().workers["w"]) == 4


def test_settle_with_a_failure_raises_it_and_every_later_run_raises_it_again():
    sim = Simulation(ping_pong_model(), ranks=2)
    boom = ValueError("boom outside the simulation")
    with pytest.raises(ValueError, match="boom outside") as info:
        sim.settle(boom)
    assert info.value is boom
    assert not getattr(boom, "__notes__", None)
    with pytest.raises(ValueError, match="boom outside"):
        sim.run()


def test_a_rank_that_failed_before_a_run_ends_the_run_the_other_is_in():
    sim = Simulation(ping_pong_model(), partition={"a": 0, "b": 1}, ranks=2)
    sim.spawn_worker("a", ping_pong_worker(sim), name="w")
    boom = ValueError("boom before the run")
    outcomes = on_two_ranks(sim, lambda e: e.run(None, None), lambda e: e.settle(boom))
    (ok0, err0), (ok1, err1) = outcomes
    assert not ok0
    assert isinstance(err0, RemoteError)
    assert err0.reported_by == 1
    assert str(err0) == (
        "rank 1 failed outside the simulation (in the script's own code): ValueError: boom before the run"
    )
    assert err0.failures[0]["lp"] is None
    assert "boom before the run" in err0.failures[0]["traceback"]
    assert not ok1
    assert err1 is boom
    with pytest.raises(RemoteError):  # at once: the simulation has failed
        sim.engines[0].settle(None)


def test_a_rank_that_settles_while_another_runs_makes_both_raise():
    sim = Simulation(ping_pong_model(), partition={"a": 0, "b": 1}, ranks=2)
    sim.spawn_worker("a", ping_pong_worker(sim), name="w")
    outcomes = on_two_ranks(sim, lambda e: e.run(None, None), lambda e: e.settle(None))
    for ok, error in outcomes:
        assert not ok
        assert isinstance(error, ModelError)
        assert "scripts disagree" in str(error)
        assert error.reported_by == 0


def test_remote_error_names_the_rank_that_reports_the_failure():
    sim = Simulation(failing_model("c"), partition={"a": 0, "b": 0, "c": 1, "d": 0}, ranks=2)
    outcomes = on_two_ranks(sim, lambda e: e.run(None, None), lambda e: e.run(None, None))
    assert isinstance(outcomes[0][1], RemoteError)
    assert outcomes[0][1].reported_by == 1
    assert isinstance(outcomes[1][1], ZeroDivisionError)


def test_deadlock_reports_the_finished_workers_values_from_every_rank():
    sim = Simulation(deadlock_model(), partition={"left": 0, "right": 1}, ranks=2)
    sim.spawn_worker("left", lambda lp: sim.wait(lp.state.get()), name="waits")
    sim.spawn_worker("right", lambda lp: {"done": lp.name}, name="done")
    sim.spawn_worker("right", lambda _lp: object(), name="odd")
    with pytest.raises(SimulationDeadlock) as info:
        sim.run()
    assert info.value.reported_by == 0
    assert info.value.finished["done"] == {"done": "right"}
    assert info.value.finished["odd"].startswith("<object object at")  # msgpack cannot carry it: its repr
