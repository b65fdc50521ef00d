"""Install plans: leaders, neighbours, receive sides that match the send sides, disjoint receive rings."""

import itertools
from dataclasses import replace

import pytest

from kernbench.ccl import AlgorithmConfig, build_install_plans, load_ccl_config
from kernbench.ccl.topologies import hierarchical_3level
from kernbench.engine import ring_region
from kernbench.topology import UnitKind
from tests.kernbench.helpers import with_sips

RING = "kernbench.ccl.algorithms.ring_allreduce"


def algo(topology="ring_1d", **fields):
    return AlgorithmConfig("test", RING, topology, **fields)


def queues_of(plans):
    """(sip, cube, pe) -> direction -> QueueSpec, over every plan."""
    return {(p.sip, i.cube, i.pe): {q.direction: q for q in i.queues} for p in plans for i in p.installs}


def check_consistent(plans):
    """Every send lands in a ring whose owner receives from the sender, and every ring has its sender."""
    table = queues_of(plans)
    rings = {q.rx_base: (node, q) for node, qs in table.items() for q in qs.values() if q.rx_base is not None}
    for node, qs in table.items():
        for q in qs.values():
            if q.send_to is not None:
                owner, their = rings[q.peer_rx_base]
                assert owner == q.send_to
                assert their.recv_from == node
            if q.recv_from is not None:
                senders = [s for s in table[q.recv_from].values() if s.peer_rx_base == q.rx_base]
                assert len(senders) == 1


def check_disjoint(plans):
    spans = sorted(
        (q.rx_base.unit, q.rx_base.sip, q.rx_base.cube, q.rx_base.pe, q.rx_base.offset, q.rx_base.offset + q.ring_bytes)
        for qs in queues_of(plans).values()
        for q in qs.values()
        if q.rx_base is not None
    )
    for a, b in itertools.pairwise(spans):
        if a[:4] == b[:4]:
            assert a[5] <= b[4], f"rings overlap: {a} and {b}"


def test_ring_leader_only_connects_each_leader_to_its_neighbours(topo):
    sys4 = with_sips(topo, 4)
    plans = build_install_plans(algo(), sys4)
    assert [p.rank for p in plans] == [0, 1, 2, 3]
    assert all(p.pes == ((0, 0),) for p in plans)
    for p in plans:
        (install,) = p.installs
        assert (install.cube, install.pe) == (0, 0)
        east, west = (q for q in install.queues)
        assert (east.direction, west.direction) == ("E", "W")
        assert east.send_to == east.recv_from == ((p.rank + 1) % 4, 0, 0)
        assert west.send_to == west.recv_from == ((p.rank - 1) % 4, 0, 0)
    check_consistent(plans)
    check_disjoint(plans)


def test_two_rank_ring_keeps_directions_apart_by_address(topo):
    """ADR-0025: both directions of rank 0 point at rank 1; E sends into 1's W ring, W into 1's E ring."""
    plans = build_install_plans(algo(), topo)
    q0 = {q.direction: q for q in plans[0].installs[0].queues}
    q1 = {q.direction: q for q in plans[1].installs[0].queues}
    assert q0["E"].send_to == q0["W"].send_to == (1, 0, 0)
    assert q0["E"].peer_rx_base == q1["W"].rx_base
    assert q0["W"].peer_rx_base == q1["E"].rx_base
    assert q0["E"].rx_base != q0["W"].rx_base


def test_unidirectional_ring_has_send_only_and_receive_only_directions(topo):
    plans = build_install_plans(algo("ring_1d_unidir"), with_sips(topo, 3))
    for p in plans:
        q = {q.direction: q for q in p.installs[0].queues}
        assert q["E"].send_to == ((p.rank + 1) % 3, 0, 0)
        assert q["E"].rx_base is None
        assert q["W"].recv_from == ((p.rank - 1) % 3, 0, 0)
        assert q["W"].send_to is None
    check_consistent(plans)


def test_tree_children_and_parents_point_at_each_other(topo):
    plans = build_install_plans(algo("tree_binary"), with_sips(topo, 7))
    table = queues_of(plans)
    assert set(table[(0, 0, 0)]) == {"child_left", "child_right"}
    assert table[(2, 0, 0)]["parent"].send_to == (0, 0, 0)
    assert table[(0, 0, 0)]["child_right"].peer_rx_base == table[(2, 0, 0)]["parent"].rx_base
    assert set(table[(6, 0, 0)]) == {"parent"}
    check_consistent(plans)


@pytest.mark.parametrize("kind", ["tcm", "hbm", "sram"])
def test_rings_live_in_the_buffer_kind_region(topo, kind):
    plans = build_install_plans(algo(buffer_kind=kind), with_sips(topo, 3))
    unit = {"tcm": UnitKind.PE_TCM, "hbm": UnitKind.HBM, "sram": UnitKind.SRAM}[kind]
    for p in plans:
        base, size = ring_region(topo, kind, p.sip, 0, 0)
        for q in p.installs[0].queues:
            assert q.rx_base.unit is unit
            assert base.offset <= q.rx_base.offset
            assert q.rx_base.offset + q.ring_bytes <= base.offset + size


def test_hierarchical_all_pes_gives_leaders_the_upper_levels(topo):
    cfg = load_ccl_config().selected("hierarchical_allreduce")
    plans = build_install_plans(cfg, topo)
    n_pes = topo.cubes_per_sip * topo.pes_per_cube
    for p in plans:
        assert len(p.pes) == n_pes
        assert len(p.installs) == n_pes
        for install in p.installs:
            dirs = {q.direction for q in install.queues}
            if (install.cube, install.pe) == (0, 0):
                assert dirs == {"E", "W", "N", "S", "parent"}
            elif install.pe == 0:
                assert dirs == {"E", "W", "N", "S"}
            else:
                assert dirs == {"E", "W"}
    check_consistent(plans)
    check_disjoint(plans)


def test_hierarchical_topology_rings_by_level(topo):
    geometry = build_install_plans(algo(), topo)[0].geometry
    pes = [(c, p) for c in range(2) for p in range(4)]
    edges = hierarchical_3level(1, replace(geometry, world_size=3), pes)
    assert edges[(0, 1)] == {"E": (1, 0, 2), "W": (1, 0, 0)}
    assert edges[(1, 0)]["S"] == (1, 0, 0)
    assert edges[(1, 0)]["N"] == (1, 0, 0)
    assert edges[(0, 0)]["parent"] == (2, 0, 0)
    assert "global_E" not in edges[(0, 0)]


def test_extra_parts_get_their_own_directions_and_rings(topo):
    plans = build_install_plans(algo("tree_binary"), with_sips(topo, 4), extra=(("ring_", algo()),))
    leader = {q.direction for q in plans[1].installs[0].queues}
    assert leader == {"parent", "child_left", "ring_E", "ring_W"}
    check_consistent(plans)
    check_disjoint(plans)


def test_plan_errors_name_the_algorithm(topo):
    with pytest.raises(ValueError, match=r"'test': world_size 3 needs 3 SIPs, the topology has 2"):
        build_install_plans(algo(world_size=3), topo)
    with pytest.raises(ValueError, match=r"'test': the receive rings of rank 0 cube 0 pe 0 need more than"):
        build_install_plans(algo(n_slots=64, slot_size=65536), topo)
    with pytest.raises(ValueError, match="unknown topology 'ring_3d'"):
        build_install_plans(algo("ring_3d"), topo)


def test_world_size_uses_the_first_sips(topo):
    plans = build_install_plans(algo(world_size=3), with_sips(topo, 4))
    assert [p.sip for p in plans] == [0, 1, 2]
    assert plans[2].installs[0].queues[0].send_to == (0, 0, 0)  # E of the last rank wraps to rank 0


def test_a_rank_built_alone_equals_the_same_rank_built_with_every_other(topo):
    """Plans are built per rank on first use (a process builds only its own ranks and their peers): the order in
    which ranks are asked for changes no address, on a 16-SIP torus with every PE in the hierarchical algorithm."""
    cfg = load_ccl_config(None).with_algorithm("hierarchical_allreduce").selected()
    extra = (("ring_", algo()),)
    sixteen = with_sips(topo, 16, "torus_2d")
    everyone = list(build_install_plans(cfg, sixteen, extra=extra))
    for rank in (0, 7, 15):
        alone = build_install_plans(cfg, sixteen, extra=extra)[rank]
        assert alone == everyone[rank]
    check_consistent(everyone)
    check_disjoint(everyone)
    with pytest.raises(IndexError, match="no rank 16"):
        build_install_plans(cfg, sixteen)[16]
