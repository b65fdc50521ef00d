"""Absolute-time scheduling: an event lands on exactly the time asked for."""

import pytest
import simpy

from pdes.clock import wake_at


def test_wake_at_lands_on_the_exact_float():
    env = simpy.Environment(initial_time=0.254)
    target = 5.668
    assert env.now + (target - env.now) != target  # scheduling by delay would miss it
    env.run(wake_at(env, target))
    assert env.now == target


def test_scheduling_in_the_past_is_refused():
    env = simpy.Environment(initial_time=5.0)
    with pytest.raises(ValueError, match=r"already at t=5\.0"):
        wake_at(env, 4.0)
