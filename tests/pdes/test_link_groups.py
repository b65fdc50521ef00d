"""All-to-all link groups: same results as the per-pair links they stand for, O(LPs) to build."""

import gc
import math
import tracemalloc

import numpy as np
import pytest

from pdes import Model, ModelError, Simulation
from pdes.phold import PholdParams, build_model, run_pdes

from .models import gossip_model

PARAMS = PholdParams(lps=12, events_per_lp=4, remote=0.7, lookahead=0.5, mean=0.7, seed=5)


@pytest.mark.parametrize("sync", ["null", "window"])
@pytest.mark.parametrize(("ranks", "partition"), [(1, "blocks"), (2, "blocks"), (3, "round_robin"), (5, "blocks")])
def test_group_gives_the_results_of_per_pair_links(sync, ranks, partition):
    reference = Simulation(gossip_model(grouped=False), ranks=1).run()
    result = Simulation(gossip_model(grouped=True), sync=sync, ranks=ranks, partition=partition).run()
    assert result.results == reference.results
    assert result.lps == {name: {**stats, "rank": result.lps[name]["rank"]} for name, stats in reference.lps.items()}
    assert sum(len(log) for log in reference.results.values()) > 100


def test_group_ports_with_a_prefix():
    reference = Simulation(gossip_model(grouped=False, prefix="to_"), ranks=1).run()
    assert Simulation(gossip_model(grouped=True, prefix="to_"), ranks=2).run().results == reference.results


@pytest.mark.parametrize(("ranks", "partition"), [(1, "blocks"), (4, "blocks"), (3, "round_robin"), (12, "blocks")])
def test_phold_group_digest_equals_per_pair_links(ranks, partition):
    options = {"ranks": ranks, "partition": partition}
    pairs = run_pdes(PARAMS, 40.0, model=build_model(PARAMS, link_group=False), **options)
    grouped = run_pdes(PARAMS, 40.0, model=build_model(PARAMS), **options)
    assert grouped[:2] == pairs[:2]
    assert grouped[1] > 500
    assert grouped[3].lps == pairs[3].lps


def test_input_bounds_equal_those_of_per_pair_links():
    """The group bound (the two smallest promises, self excluded) against the per-pair table, ties included."""
    rng = np.random.default_rng(1)
    sims = [Simulation(gossip_model(grouped=g, n=7), ranks=3, partition="round_robin") for g in (False, True)]
    for trial in range(200):
        F = rng.choice([0.0, 0.5, 1.0, 2.0, math.inf], size=7) if trial % 2 else rng.random(7)
        bounds = []
        for sim in sims:
            for engine in sim.engines:
                engine.F[:] = F
            bounds.append([b for engine in sim.engines for b in engine.strategy.bounds()])
        assert bounds[0] == bounds[1], F


def test_group_ports_exclude_the_sender_itself():
    sim = Simulation(gossip_model(grouped=True, n=4))
    lp = sim.lp("g0")
    assert sorted(lp.ports) == ["g1", "g2", "g3", "side"]
    assert sorted(sim.lp("g2").ports) == ["g0", "g1", "g3"]
    with pytest.raises(ModelError, match=r"LP 'g2' has no output port 'g2' \(ports: g0, g1, g3\)"):
        sim.lp("g2").send("g2", 1)
    with pytest.raises(ModelError, match="LP 'g0' has no output port 'g9'"):
        lp.send("g9", 1)


def test_group_declaration_errors():
    m = Model()
    for name in ("a", "b", "c"):
        m.add_lp(name, lambda lp: lp.on_receive(lambda _msg: None))
    with pytest.raises(ModelError, match="link group: unknown LP 'z'"):
        m.add_link_group(["a", "z"], 1.0)
    with pytest.raises(ModelError, match="link group: LP 'b' is listed twice"):
        m.add_link_group(["a", "b", "b"], 1.0)
    with pytest.raises(
        ModelError,
        match=r"link 'a' -> 'b' \(port 'b', in the all-to-all link group of 3 LPs "
        r"\(a..c\)\): latency must be a finite number > 0",
    ):
        m.add_link_group(None, 0.0)
    m.add_link("a", "b", 1.0)
    with pytest.raises(ModelError, match="LP 'a' already has a port named 'b' \\(from add_link\\)"):
        m.add_link_group(None, 1.0)
    m.add_link_group(["b", "c"], 1.0)
    with pytest.raises(ModelError, match="LP 'c' already has a port named 'b' \\(from the all-to-all link group"):
        m.add_link("c", "b", 2.0)
    m.add_link("c", "a", 2.0)  # a is not in the group: its name is free as a port of c
    with pytest.raises(ModelError, match=r"LP 'b' already has a port named 'c' .*use another prefix"):
        m.add_link_group(["a", "b", "c"], 1.0)
    m.add_link_group(["a", "b", "c"], 1.0, prefix="x.")
    assert m.describe() == "3 LPs (a..c), 2 links, 2 link groups (8 pairs), seed 0"


def test_one_member_group_has_no_links():
    m = Model()
    m.add_lp("solo", lambda _lp: None)
    group = m.add_link_group(None, 1e-30)  # no pair, so no latency to check against a horizon
    assert group.pairs == 0
    assert m.shortest_link[0] == math.inf
    assert Simulation(m).run(until=1e9).results == {"solo": None}


def test_digest_tells_groups_apart():
    digests = {
        gossip_model(grouped=True).digest(),
        gossip_model(grouped=False).digest(),
        gossip_model(grouped=True, prefix="p").digest(),
    }
    assert len(digests) == 3
    assert gossip_model(grouped=True).digest() == gossip_model(grouped=True).digest()


def test_10000_lp_all_to_all_phold_builds_in_little_memory():
    """One link object per pair took 8+ GB at 4,000 LPs; a group is O(LPs)."""
    gc.collect()
    tracemalloc.start()
    try:
        params = PholdParams(lps=10_000, events_per_lp=1, remote=0.5, seed=1)
        sim = Simulation(build_model(params), ranks=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 30, f"{peak / 2**20:.0f} MiB"
    assert len(sim.engines[0].lps) == 5_000
    assert len(sim.lp("lp0").ports) == 9_999
    assert sim.lp("lp0").send("lp9999", None) == 1.0  # resolved through the group: rank 1's outbox
