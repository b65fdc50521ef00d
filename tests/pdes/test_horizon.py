"""No input livelocks the synchronizer: latencies below the float resolution at the horizon are refused."""

import math

import pytest

from pdes import Model, ModelError, Simulation
from pdes.model import time_limit

from .models import endless_ping_pong


@pytest.mark.parametrize("latency", [1e-17, 2.0**-60, 0.1, 1.0, 3.0, 1e-9, 5e-324, 1e300])
def test_time_limit_is_where_the_float_spacing_passes_the_latency(latency):
    limit = time_limit(latency)
    assert math.ulp(limit) > latency >= math.ulp(math.nextafter(limit, 0.0))
    below = math.nextafter(limit, 0.0)
    assert below + latency > below
    assert time_limit(1e-17) == 0.0625
    assert time_limit(1.5e-16) == 1.0
    assert time_limit(1e308) == math.inf


LIVELOCK = (
    r"link 'a' -> 'b' \(port 'b'\): latency 1e-17 cannot advance time at t=1.0 \(float resolution 2.2e-16\); "
    r"it allows runs up to t=0.0625: use a larger latency, a shorter run, or a coarser time unit"
)


@pytest.mark.parametrize("ranks", [1, 2])
def test_run_until_beyond_the_resolution_of_a_latency_is_refused_up_front(ranks):
    sim = Simulation(endless_ping_pong(1e-17), ranks=ranks)
    with pytest.raises(ModelError, match=f"^{LIVELOCK}$"):
        sim.run(until=1.0)
    assert sim.lp("a").now == 0.0  # nothing ran


def test_run_until_within_the_resolution_runs():
    sim = Simulation(endless_ping_pong(2.0**-40, delay=1000.0), ranks=2)  # time_limit = 2**13
    with pytest.raises(ModelError, match=r"cannot advance time at t=8192\.000000000002"):
        sim.run(until=math.nextafter(2.0**13, math.inf))
    assert sum(r["events"] for r in sim.run(until=2.0**13).ranks) >= 9  # exactly at the limit is allowed
    assert sim.lp("b").now == 2.0**13


@pytest.mark.parametrize("sync", ["null", "window"])
@pytest.mark.parametrize("ranks", [1, 2])
def test_run_to_quiescence_stops_where_time_would_stop(sync, ranks):
    sim = Simulation(endless_ping_pong(2.0**-40, delay=1000.0), ranks=ranks, sync=sync)
    with pytest.raises(
        ModelError,
        match=r"latency 9.094947017729282e-13 cannot advance time at t=9000.000000000022 "
        r".*it allows runs up to t=8192.0.* \(run\(\) without until\)",
    ):
        sim.run()


@pytest.mark.parametrize("until", [math.nan, math.inf, -1.0, "10", True])
def test_until_must_be_finite_and_not_negative(until):
    sim = Simulation(endless_ping_pong(1.0))
    with pytest.raises(ValueError, match="until must be a finite number >= 0, or None to run to quiescence"):
        sim.run(until=until)


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 1.5, "7", True])
def test_model_seed_must_fit_the_digest(seed):
    with pytest.raises(ModelError, match=r"seed must be an integer in \[-2\*\*63, 2\*\*64\)"):
        Model(seed=seed)
    assert Model(seed=2**64 - 1).digest() != Model(seed=-1).digest()


@pytest.mark.parametrize("ranks", [0, -2, 1.0, "2", True])
def test_ranks_must_be_a_positive_integer(ranks):
    with pytest.raises(ValueError, match="ranks must be an integer >= 1"):
        Simulation(endless_ping_pong(1.0), ranks=ranks)
