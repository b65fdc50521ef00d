"""pdes.projection: lambda, the per-round critical path, and the statistics it reads (virtual ranks)."""

import math

import pytest

from pdes import Simulation
from pdes.phold import PholdParams
from pdes.phold.model import build_model
from pdes.projection import MPI_START_S, ROUND_COST_S, coupling, project, round_cost

PHOLD = PholdParams(lps=16, events_per_lp=4, remote=0.5, lookahead=1.0, mean=1.0, seed=3)


def test_lockstep_critical_path_is_the_sum_of_each_rounds_slowest_rank():
    busy = [[1.0, 0.5, 2.0], [0.5, 1.5, 1.0]]
    p = project(busy, other=[0.25, 0.5], wall_s=10.0, cpu=[[0.5, 0.5, 1.0], [0.5, 0.5, 0.5]])
    assert p["critical_path_s"] == 1.0 + 1.5 + 2.0
    assert p["critical_path_cpu_s"] == 0.5 + 0.5 + 1.0
    assert p["busy_s"] == 6.5 + 0.75
    assert p["serial_s"] == 10.0 - 7.25
    assert p["per_rank_other_s"] == 0.5
    assert p["sync_s"] == pytest.approx(3 * ROUND_COST_S)
    assert p["start_s"] == MPI_START_S
    # each rank starts after its own work outside rounds: rank 0 (0.25 + 1.0) is the later one in round 0
    assert p["projected_wall_s"] == pytest.approx(2.75 + 1.25 + 1.5 + 2.0 + 3 * ROUND_COST_S + MPI_START_S)
    assert p["projected_cpu_s"] == pytest.approx(2.75 + 1.0 + 0.5 + 1.0 + 3 * ROUND_COST_S + MPI_START_S)
    assert p["balance"] == pytest.approx(7.25 / (2 * 5.0))
    # from CPU time, the serial part and the work outside runs in CPU seconds when the caller has them
    cpu = project(busy, [0.25, 0.5], 10.0, [[0.5, 0.5, 1.0], [0.5, 0.5, 0.5]], serial_cpu_s=1.0, other_cpu=[0, 0])
    assert cpu["projected_cpu_s"] == pytest.approx(1.0 + 0.5 + 0.5 + 1.0 + 3 * ROUND_COST_S + MPI_START_S)
    assert cpu["projected_wall_s"] == p["projected_wall_s"]
    with pytest.raises(ValueError, match="different numbers of rounds"):
        project([[1.0], [1.0, 2.0]], [0, 0], 1.0)


def test_a_rank_waits_only_for_its_neighbours_and_the_lagged_reduction():
    """Ranks 0 - 1 - 2 in a line: rank 0's busy round 0 and rank 2's busy round 1 overlap, since rank 2 does not
    wait for rank 0; with a blocking reduction (lag 0) every round waits for every rank again."""
    busy = [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]
    line = [[1], [0, 2], [1]]
    assert project(busy, [0, 0, 0], 2.0)["critical_path_s"] == 2.0  # lockstep
    assert project(busy, [0, 0, 0], 2.0, neighbours=line, lag=2)["critical_path_s"] == 1.0
    assert project(busy, [0, 0, 0], 2.0, neighbours=line, lag=1)["critical_path_s"] == 1.0
    assert project(busy, [0, 0, 0], 2.0, neighbours=line, lag=0)["critical_path_s"] == 2.0
    # a chain of dependencies through the neighbours is still waited for: 0 -> 1 -> 2, one round each
    chain = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert project(chain, [0, 0, 0], 3.0, neighbours=line, lag=3)["critical_path_s"] == 3.0


def test_collector_lumps_are_spread_over_the_ranks_work():
    """A full collection of the shared heap (0.8 s in rank 0's round 0) becomes every rank's share of it."""
    busy = [[1.0, 0.1], [0.1, 0.1]]
    p = project(busy, [0, 0], 1.3, gc=[[0.8, 0.0], [0.0, 0.0]])
    scale = 1.3 / 0.5  # the run's busy time over what is left without the collector
    assert p["critical_path_s"] == pytest.approx((0.2 + 0.1) * scale)
    assert p["gc_s"] == pytest.approx(0.8)
    assert p["busy_s"] == pytest.approx(1.3)


def test_round_cost_grows_with_the_reduction_depth():
    assert round_cost(1) == 0.0
    assert [round_cost(k) / ROUND_COST_S for k in (2, 3, 4, 16, 64)] == pytest.approx([1, 2, 2, 4, 6])


def test_lambda_is_work_per_lookahead_window_over_round_cost():
    # 1,000 events in 2 s over 100 time units with lookahead 0.5: 200 windows, 5 events of 2 ms each per window
    assert coupling(2.0, 0.5, 100.0, 0.01) == pytest.approx(5 * 2e-3 / 0.01)
    assert coupling(2.0, math.inf, 100.0, 0.01) is None
    assert coupling(2.0, 0.5, 0.0, 0.01) is None


def test_one_rank_projects_to_its_own_loop_and_stats_add_up_over_runs():
    sim = Simulation(build_model(PHOLD), transport="local")
    first = sim.run(until=20.0)
    sim.run(until=40.0)
    stats = sim.stats()
    [rank] = stats["ranks"]
    assert rank["events"] > first.stats["ranks"][0]["events"] > 0  # cumulative over both runs
    assert stats["sync"]["events"] == sum(s["events"] for s in stats["lps"].values()) == rank["events"]
    assert stats["sync"]["lambda"] == pytest.approx(
        rank["compute_cpu_s"] * 1.0 / (40.0 * ROUND_COST_S)
    )  # lookahead 1, span 40
    wall = sim.runs_wall_s + sim.engines[0].other_s + 0.01  # the runs, building the model, something serial
    p = sim.projection(wall)
    assert p["ranks"] == 1
    assert p["sync_s"] == 0
    assert p["start_s"] == 0
    assert p["rounds"] == rank["rounds"]
    assert p["critical_path_s"] == pytest.approx(rank["busy_s"])
    assert rank["busy_s"] <= rank["wall_s"]
    # one rank's run is its rounds and a transport that waits for nobody: the projection is the measured wall less
    # that transport's own time, which an MPI rank would replace by its exchanges and reductions
    assert rank["busy_s"] <= sim.runs_wall_s + 1e-3  # (clock reads a few microseconds apart)
    assert p["projected_wall_s"] == pytest.approx(wall - sim.runs_wall_s + rank["busy_s"])
    assert p["projected_wall_s"] <= wall + 1e-3


def test_virtual_ranks_measure_each_rank_alone():
    sim = Simulation(build_model(PHOLD), transport="local", ranks=4)
    result = sim.run(until=50.0)
    ranks = result.stats["ranks"]
    assert len({r["rounds"] for r in ranks}) == 1
    assert all(len(e.round_busy) == ranks[0]["rounds"] for e in sim.engines)
    p = sim.projection(sum(r["busy_s"] for r in ranks) + 0.05)
    assert p["critical_path_s"] <= p["busy_s"] <= 4 * p["critical_path_s"] + 4 * p["per_rank_other_s"]
    assert 0 < p["sync_s"] <= ranks[0]["rounds"] * 2 * ROUND_COST_S + 1e-12
    sync = result.stats["sync"]
    assert sync["ranks"] == 4
    assert sync["null_msgs"] > 0
    assert sum(sync["events_share"]) == pytest.approx(1)
