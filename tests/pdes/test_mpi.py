"""Every distributed feature, under mpirun, compared for equality with the single-process run.

Run with: mpirun -n N python -m pytest --with-mpi -m mpi tests/pdes/test_mpi.py  (N >= 2)
"""

import pytest

from pdes import ModelError, RemoteError, Simulation, SimulationDeadlock
from pdes.phold import PholdParams, run_pdes, run_simpy

from .models import (
    chatter_model,
    deadlock_model,
    endless_ping_pong,
    failing_model,
    fan_in_model,
    gossip_model,
    ping_pong_model,
    ping_pong_worker,
    ring_model,
)

pytestmark = pytest.mark.mpi(min_size=2)

PHOLD = PholdParams(lps=64, events_per_lp=8, remote=0.5, lookahead=1.0, mean=1.0, seed=7)


def world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


@pytest.mark.parametrize("sync", ["null", "window"])
@pytest.mark.parametrize("partition", ["blocks", "round_robin"])
def test_phold_digest_equals_single_process_and_simpy(sync, partition):
    digest_mpi, events_mpi, _, result = run_pdes(PHOLD, 200.0, transport="mpi", sync=sync, partition=partition)
    digest_local, events_local, _, _ = run_pdes(PHOLD, 200.0, transport="local")
    digest_simpy, _, _ = run_simpy(PHOLD, 200.0)
    assert result.stats["totals"]["ranks"] == world().Get_size()
    assert digest_mpi == digest_local == digest_simpy
    assert events_mpi == events_local > 40_000


@pytest.mark.parametrize("sync", ["null", "window"])
def test_model_results_and_lp_stats_equal_single_process(sync):
    single = Simulation(chatter_model(), transport="local").run()
    split = Simulation(chatter_model(), transport="mpi", sync=sync, partition="round_robin").run()
    assert split.results == single.results
    assert {n: s["events"] for n, s in split.lps.items()} == {n: s["events"] for n, s in single.lps.items()}
    assert (
        Simulation(fan_in_model(), transport="mpi").run().results
        == Simulation(fan_in_model(), transport="local").run().results
    )


def test_ping_pong_between_ranks_has_exact_timing():
    def run(**options):
        sim = Simulation(ping_pong_model(), **options)
        worker = sim.spawn_worker("a", ping_pong_worker(sim)) if sim.is_local("a") else None
        sim.run()
        return sim, worker

    _, reference = run(transport="local")
    sim, worker = run(transport="mpi", partition={"a": 0, "b": 1})  # ranks >= 2 hold no LP and idle
    if world().Get_rank() == 0:
        assert worker.value == reference.value
        assert len(worker.value) == 4
    else:
        assert worker is None
        assert not sim.is_local("a")
        with pytest.raises(ModelError, match="LP 'a' lives on rank 0"):
            sim.spawn_worker("a", ping_pong_worker(sim))


def test_deadlock_raises_on_every_rank():
    sim = Simulation(deadlock_model(), transport="mpi", partition={"left": 0, "right": 1})
    for name in ("left", "right"):
        if sim.is_local(name):
            sim.spawn_worker(name, lambda lp: sim.wait(lp.state.get()), name=f"wait-{name}")
    with pytest.raises(SimulationDeadlock) as info:
        sim.run()
    assert sorted((w["worker"], w["rank"]) for w in info.value.blocked) == [("wait-left", 0), ("wait-right", 1)]


def test_model_exception_raises_original_on_its_rank_and_remote_error_elsewhere():
    sim = Simulation(failing_model("c"), transport="mpi", partition={"a": 0, "b": 0, "c": 1, "d": 0})
    if world().Get_rank() == 1:
        with pytest.raises(ZeroDivisionError) as info:
            sim.run()
        assert "LP 'c' on rank 1" in "".join(info.value.__notes__)
    else:
        with pytest.raises(RemoteError, match="rank 1 LP 'c' failed during the run: ZeroDivisionError") as info:
            sim.run()
        assert "ZeroDivisionError" in info.value.failures[0]["traceback"]


def test_rank_that_fails_before_a_run_ends_it_for_the_others_through_settle():
    sim = Simulation(ping_pong_model(), transport="mpi", partition={"a": 0, "b": 1})
    rank = world().Get_rank()
    if rank == 1:
        with pytest.raises(ValueError, match="boom before the run"):
            sim.settle(ValueError("boom before the run"))
    else:
        if sim.is_local("a"):
            sim.spawn_worker("a", ping_pong_worker(sim), name="w")
        with pytest.raises(RemoteError, match="rank 1 failed outside the simulation") as info:
            sim.run()
        assert info.value.reported_by == 1
        with pytest.raises(RemoteError):  # at once, without the other ranks: the simulation has failed
            sim.settle()


def test_model_that_differs_between_ranks_is_refused_on_every_rank():
    model = chatter_model(n=4 + (world().Get_rank() == 1))
    with pytest.raises(ModelError, match=r"the model differs between ranks.*rank 1: 5 LPs"):
        Simulation(model, transport="mpi")


def test_lp_states_are_gathered_on_rank_0_only_as_in_one_process():
    single = Simulation(chatter_model(), transport="local", ranks=1)
    single.run()
    split = Simulation(chatter_model(), transport="mpi", partition="round_robin")
    split.run()
    gathered = split.gather(repr)
    if world().Get_rank() == 0:
        assert gathered == single.gather(repr)
        assert list(gathered) == split.model.lp_names
    else:
        assert gathered is None


def test_worker_return_values_are_gathered_like_single_process():
    def run(transport):
        sim = Simulation(ping_pong_model(), transport=transport, partition="round_robin")
        for lp in ("a", "b"):
            if sim.is_local(lp):
                sim.spawn_worker(lp, lambda lp_: (lp_.name, lp_.index), name=f"w-{lp}")
        return sim.run().workers

    assert run("mpi") == run("local") == {"w-a": ["a", 0], "w-b": ["b", 1]}


@pytest.mark.parametrize("partition", ["blocks", "round_robin"])
def test_link_group_results_equal_per_pair_links_single_process(partition):
    single = Simulation(gossip_model(grouped=False), transport="local").run()
    split = Simulation(gossip_model(grouped=True), transport="mpi", partition=partition).run()
    assert split.results == single.results


def test_run_to_quiescence_stops_at_the_horizon_on_every_rank():
    sim = Simulation(endless_ping_pong(2.0**-40, delay=1000.0), transport="mpi", partition={"a": 0, "b": 1})
    with pytest.raises(ModelError, match=r"cannot advance time at t=9000\.000000000022 .*\(run\(\) without until\)"):
        sim.run()
    with pytest.raises(ModelError, match=r"it allows runs up to t=8192\.0"):
        sim.run(until=8192.5)


def test_stats_gathered_after_several_runs_add_up_to_the_single_process_run():
    def stats(transport):
        sim = Simulation(chatter_model(), transport=transport, partition="round_robin")
        sim.run(until=5.0)
        sim.run()
        return sim, sim.stats()

    sim, split = stats("mpi")
    _, single = stats("local")
    size = world().Get_size()
    assert len(split["ranks"]) == split["sync"]["ranks"] == size
    assert split["sync"]["events"] == single["sync"]["events"] == sum(r["events"] for r in split["ranks"]) > 0
    assert split["totals"]["real_msgs"] == single["totals"]["real_msgs"]
    assert sum(r["lps"] for r in split["ranks"]) == len(single["lps"])
    assert len({r["rounds"] for r in split["ranks"]}) == 1
    with pytest.raises(ModelError, match="projection needs the in-process transport"):
        sim.projection(1.0)


def test_host_allreduce_sums_or_maxes_each_process_part_and_one_process_holds_the_whole():
    """What each process computed for its own LPs, combined: integer sums do not depend on the partition, so the
    total equals what one process, which holds every LP, computes alone."""
    import numpy as np

    model = chatter_model()
    split = Simulation(model, transport="mpi", partition="round_robin")
    single = Simulation(chatter_model(), transport="local", ranks=3)
    names = model.lp_names

    def part(sim: Simulation) -> np.ndarray:
        rows = [[i + 1, 10 * (i + 1)] for i, n in enumerate(names) if sim.is_local(n)]
        return np.array(rows, dtype=np.int64).reshape(-1, 2).sum(axis=0)  # a process may hold no LP

    assert split.allreduce(part(split)).tolist() == single.allreduce(part(single)).tolist()
    rank = world().Get_rank()
    assert split.allreduce(np.array([rank, -rank]), op="max").tolist() == [world().Get_size() - 1, 0]
    with pytest.raises(ValueError, match="op must be 'sum' or 'max'"):
        split.allreduce(np.zeros(1), op="min")


def test_a_ring_of_ranks_waits_for_reductions_its_diameter_later_with_the_results_of_one_process():
    """LPs in a ring dealt to the ranks in blocks: the ranks form a ring too (a line of two), so each finishes a
    reduction as many rounds after starting it as the ring is wide; the results are one process's."""
    times = [0.0, 1e6, 2e6]
    size = world().Get_size()
    sim = Simulation(ring_model(4 * size, times), transport="mpi", partition="blocks")
    assert sim.engines[0].strategy.reduction_lag == max(1, size // 2)
    split = sim.run()
    assert split.results == Simulation(ring_model(4 * size, times)).run().results
    assert {r["reductions"] for r in split.ranks} == {split.ranks[0]["rounds"]}
