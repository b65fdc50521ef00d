"""The analytical reference (`kernbench.ccl.model`): its building blocks, and the simulator held against it."""

import pytest
import simpy

from kernbench.ccl import load_ccl_config, world_size_of
from kernbench.ccl.model import CollectiveModel, Hardware, chain_ns, pipeline_ns, reference_ns, route_ns
from kernbench.cli.ccl_perf import run_sweep
from kernbench.components import Fanout, Link
from kernbench.engine import Engine
from kernbench.topology import load_topology
from tests.kernbench.closed_forms import ipcq_hop_ns
from tests.kernbench.helpers import DEFAULT_TOPOLOGY, with_sips


@pytest.fixture(scope="module")
def base():
    return load_topology(DEFAULT_TOPOLOGY)


def test_route_pays_each_fixed_cost_once_and_the_bytes_at_the_slowest_stage():
    env = simpy.Environment()
    fast, slow = Link(env, "fast", 200.0, 3.0, 10.0, 0.01), Link(env, "slow", 50.0, 7.0)
    slices = Fanout("hbm", ((Link(env, "s0", 10.0, 50.0), 3000), (Link(env, "s1", 10.0, 50.0), 1000)))
    assert route_ns([fast, slow], 1000) == pytest.approx(3.0 + 0.1 + 7.0 + 1000 / 50.0)
    assert route_ns([fast, slices], 4000) == pytest.approx(3.1 + 50.0 + 3000 / 10.0)  # the fuller slice


def test_pipeline_is_bandwidth_or_latency_bound():
    # 3 ring steps of 4 pieces: bandwidth-bound (4 x 10 > 25), then latency-bound (4 x 10 < 60)
    assert pipeline_ns([25.0] * 3, [10.0] * 3, 4) == pytest.approx(2 * 40 + 40 + 25 - 10)
    assert pipeline_ns([60.0] * 3, [10.0] * 3, 4) == pytest.approx(2 * 60 + 40 + 60 - 10)
    assert pipeline_ns([60.0] * 3, [10.0] * 3, 4, rate=30.0) == pytest.approx(2 * 4 * 30 + 4 * 30 + 60 - 30)
    assert pipeline_ns([], [], 4) == 0.0
    assert chain_ns([5.0, 7.0], 3.0, 10) == pytest.approx(12.0 + 9 * 3.0)


@pytest.mark.parametrize("links", [1, 2, 3])
@pytest.mark.parametrize("nbytes", [16, 4096, 65536])
def test_an_ipcq_hop_is_the_hop_by_hop_closed_form(base, links, nbytes):
    """Two derivations of one number: the reference sums the fabric's routes; `ipcq_hop_ns` writes each hop out
    from the topology's fields."""
    topo = with_sips(base, 8)
    assert Hardware(topo).sip_hop_ns(links, nbytes) == pytest.approx(ipcq_hop_ns(topo, nbytes, links=links))


CASES = [  # algorithm, SIPs, SIP topology, sizes (bytes per rank)
    ("ring_allreduce_tcm", 4, "ring_1d", [8, 1 << 20]),
    ("ring_allreduce_hbm", 3, "ring_1d", [8, 1 << 20]),
    ("ring_allreduce_sram", 4, "torus_2d", [8, 1 << 20]),
    ("ring_allreduce_unidir", 3, "ring_1d", [8, 1 << 20]),
    ("mesh_allreduce", 4, "torus_2d", [8, 1 << 20]),
    ("mesh_allreduce_no_wrap", 4, "mesh_2d_no_wrap", [8, 1 << 20]),
    ("tree_allreduce", 4, "ring_1d", [8, 1 << 20]),
    ("intercube_allreduce", 4, "torus_2d", [64, 1 << 20]),
    ("ring_allreduce_all_pes", 4, "ring_1d", [512]),  # the lanes of cubes far from the IO chiplet end last
]


@pytest.mark.parametrize(("algorithm", "sips", "kind", "sizes"), CASES, ids=[f"{c[0]}-{c[2]}-{c[1]}" for c in CASES])
def test_the_simulator_is_within_the_validation_tolerance_of_the_reference(base, algorithm, sips, kind, sizes):
    """docs/validation.md: within 15 % either way (what is beyond is explained there)."""
    topo = with_sips(base, sips, kind)
    ccl = load_ccl_config().with_algorithm(algorithm)
    rows = run_sweep(Engine(topo, report_requests=False), ccl, "all_reduce", sizes, "f32", 0)
    assert [r["wrong"] for r in rows] == [0] * len(sizes)
    for r in rows:
        assert 1 / 1.15 <= r["sim_over_model"] <= 1.15, (r["size"], r["time_us"], r["model_us"])
        assert r["model_us"] == pytest.approx(
            reference_ns(topo, ccl.selected(), world_size_of(ccl.selected(), topo), "all_reduce", r["count"], "f32")
            / 1e3
        )


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter", "broadcast"])
def test_the_ring_collectives_are_their_closed_form(base, op):
    """One piece per step, nothing shared: the reference is the simulated time to a part in a million."""
    topo = with_sips(base, 4, "torus_2d")
    rows = run_sweep(Engine(topo, report_requests=False), load_ccl_config(), op, [64, 16384], "f32", 1)
    for r in rows:
        assert r["wrong"] == 0
        assert r["sim_over_model"] == pytest.approx(1.0, abs=1e-6)


def test_an_algorithm_module_the_reference_does_not_know_has_no_reference(base):
    from dataclasses import replace

    for module in ("my.own.allreduce", "tests.kernbench.ccl.ring_allreduce"):  # not the shipped ring, same last name
        algo = replace(load_ccl_config().selected(), module=module)
        assert CollectiveModel(with_sips(base, 4), algo, 4).all_reduce_ns(1024, "f32") is None


def test_a_one_element_mesh_all_reduce_grows_like_the_square_root_of_the_sips(base):
    """Issue 20: the token-passing barrier made each SIP start its hops later than the one before, so this grew
    like p (12.3 / 43.9 / 161.1 us at 16 / 64 / 256 SIPs). From one release it is its critical path: sqrt(p) - 1
    pass-along steps per dimension, each one piece's hop."""
    rows = {}
    for sips in (16, 64):
        topo = with_sips(base, sips, "torus_2d")
        ccl = load_ccl_config().with_algorithm("mesh_allreduce")
        [rows[sips]] = run_sweep(Engine(topo, report_requests=False), ccl, "all_reduce", [4], "f32", 0)
    assert rows[16]["time_us"] < 5.0
    assert rows[64]["time_us"] < 10.0
    assert rows[64]["time_us"] / rows[16]["time_us"] < 2.2  # 2(8 - 1) / 2(4 - 1) steps, plus the fixed costs
    assert all(0.95 <= r["sim_over_model"] <= 1.05 for r in rows.values())
