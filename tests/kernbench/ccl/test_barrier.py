"""The process group's barrier: dissemination rounds over the SIP grid, and one release instant for every rank."""

import pytest

from kernbench.ccl import load_ccl_config
from kernbench.ccl.barrier import directions, release_delay_ns, round_links
from kernbench.ccl.model import Hardware
from kernbench.ccl.topologies import CclGeometry, dissemination, pe_edges
from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.runtime.distributed import process_group_plans
from kernbench.topology import load_topology
from tests.kernbench.helpers import DEFAULT_TOPOLOGY, load_script, with_sips

BENCH = load_script("kernbench/benches/barrier.py")


@pytest.fixture(scope="module")
def base():
    return load_topology(DEFAULT_TOPOLOGY)


def barrier(topo, straggler: int = -1, delay_us: float = 10.0) -> dict:
    return BENCH.run(RuntimeContext(Engine(topo), load_ccl_config()), straggler=straggler, delay_us=delay_us)


def test_rounds_run_along_rows_then_columns_of_the_sip_grid(base):
    geometry = CclGeometry.of(with_sips(base, 16, "torus_2d"))
    edges = dissemination(5, geometry, [(0, 0)])[(0, 0)]
    # sip5 is (1, 1) on the 4x4 grid: 1 and 2 further along its row, then 1 and 2 rows further down
    assert edges == {"x0": (6, 0, 0), "x1": (7, 0, 0), "y0": (9, 0, 0), "y1": (13, 0, 0)}
    assert directions(geometry) == ("bar_x0", "bar_x1", "bar_y0", "bar_y1")
    line = CclGeometry.of(with_sips(base, 6, "ring_1d"))
    assert dissemination(5, line, [(0, 0)])[(0, 0)] == {"x0": (0, 0, 0), "x1": (1, 0, 0), "x2": (3, 0, 0)}


def test_a_round_lands_on_the_receivers_direction_of_the_same_name(base):
    """Three ranks: round 1 sends to r + 2 = r - 1, whom round 0 points back at; it still lands on x1."""
    topo = with_sips(base, 3)
    plans = process_group_plans(load_ccl_config(), topo)
    queues = {q.direction: q for q in plans[0].installs[0].queues}
    assert (queues["bar_x0"].send_to, queues["bar_x0"].recv_from) == ((1, 0, 0), (2, 0, 0))
    assert (queues["bar_x1"].send_to, queues["bar_x1"].recv_from) == ((2, 0, 0), (1, 0, 0))
    assert pe_edges("dissemination", 0, CclGeometry.of(topo), [(0, 0)])[(0, 0)].keys() == {"x0", "x1"}


@pytest.mark.parametrize(
    ("sips", "kind", "links"),
    [(16, "torus_2d", [1, 2, 1, 2]), (16, "mesh_2d_no_wrap", [3, 2, 3, 2]), (6, "ring_1d", [1, 2, 2])],
)
def test_each_rounds_longest_route(base, sips, kind, links):
    topo = with_sips(base, sips, kind)
    assert round_links(topo, CclGeometry.of(topo)) == links


@pytest.mark.parametrize(("sips", "kind"), [(4, "torus_2d"), (16, "torus_2d"), (6, "ring_1d"), (9, "mesh_2d_no_wrap")])
def test_every_rank_leaves_at_once_the_barriers_closed_form_after_the_last_arrival(base, sips, kind):
    topo = with_sips(base, sips, kind)
    result = barrier(topo)
    assert result["checks"]["no_rank_leaves_before_the_last_arrives"]
    assert result["skew_ns"] == 0.0
    expected = release_delay_ns(topo, CclGeometry.of(topo)) + Hardware(topo).done_ns()
    assert result["latency_ns"] == pytest.approx(expected, abs=1e-3)  # arrivals travel in whole picoseconds


@pytest.mark.parametrize("straggler", [0, 5, 15])
def test_a_straggler_holds_every_rank_and_they_still_leave_together(base, straggler):
    topo = with_sips(base, 16, "torus_2d")
    on_time = barrier(topo)
    late = barrier(topo, straggler=straggler, delay_us=25.0)
    assert late["checks"]["no_rank_leaves_before_the_last_arrives"]
    assert late["skew_ns"] == 0.0
    assert late["latency_ns"] == pytest.approx(on_time["latency_ns"], abs=1e-3)


def test_latency_grows_with_the_log_of_the_ranks_not_the_ranks(base):
    """The ring token took 15.0 / 53.3 us at 16 / 64 SIPs; the rounds' distances add up to about twice the
    grid's diameter."""
    small, big = (barrier(with_sips(base, n, "torus_2d"))["latency_ns"] for n in (16, 64))
    assert small < 5_000
    assert big < 9_000
    assert big / small < 2.2
