"""The seeds' neighbour tables for hierarchical and intercube (issue 13 point 4), and the seeds' own kernels, which
use those tables, running on them without deadlock.

Seed texts are in /work/shared/seeds/000_*.txt: ``neighbors()`` of the seeds' ``hierarchical_allreduce.py``
(ADR-0023 version; ADR-0029 D3/D4 keep its levels), ``configure_sfr_intercube_multisip`` of ``ccl/sfr_config.py``
with its tests ``TestConfigureSfrNeighborTables``, and the kernels ``hierarchical_allreduce.kernel``
(``_bidir_reduce`` / ``_chain_broadcast``, pair exchange on ``parent``) and
``allreduce_intercube_multidevice`` (ring / torus / mesh inter-SIP exchange on the SE root cube). The kernels
below are those kernels ported to this project's ``tl`` (SIP-local pointers as ADR-0029 D5 asks, f32 data);
their directions and message order are the seeds'.
"""

import numpy as np
import pytest

from kernbench.ccl import AllReduceRequest, build_install_plans, load_ccl_config
from kernbench.ccl.algorithms import hierarchical_allreduce, intercube_allreduce
from kernbench.ccl.testing import run_kernel_in_mock
from kernbench.ccl.topologies import CclGeometry, hierarchical_3level
from tests.kernbench.helpers import with_sips

from .test_install_plan import check_consistent, check_disjoint, queues_of

N_CUBES = 16


# -- hierarchical ---------------------------------------------------------------------------------------------


def seed_hierarchical_neighbors(pe_id, local_cube_id, sip_id, pes_per_cube, cubes_per_sip, num_sips):
    """The seeds' ``hierarchical_allreduce.neighbors`` in (sip, cube, pe) terms instead of flat PE ranks."""
    out = {
        "E": (sip_id, local_cube_id, (pe_id + 1) % pes_per_cube),
        "W": (sip_id, local_cube_id, (pe_id - 1) % pes_per_cube),
    }
    if pe_id == 0 and cubes_per_sip > 1:
        out["N"] = (sip_id, (local_cube_id + 1) % cubes_per_sip, 0)
        out["S"] = (sip_id, (local_cube_id - 1) % cubes_per_sip, 0)
    if pe_id == 0 and local_cube_id == 0 and num_sips > 1:
        out["parent"] = ((sip_id + 1) % num_sips, 0, 0)
    return out


def test_hierarchical_3level_is_the_seeds_neighbour_table():
    """Seed: ``hierarchical_allreduce.neighbors`` (E/W intra-cube ring, N to the next cube's PE 0, S to the
    previous, ``parent`` from cube 0 PE 0 to the other SIP), on the default 2 SIPs x 16 cubes x 8 PEs."""
    pes = [(c, p) for c in range(N_CUBES) for p in range(8)]
    geometry = CclGeometry(2, 4, 4, 8)
    for sip in range(2):
        edges = hierarchical_3level(sip, geometry, pes)
        for cube, pe in pes:
            want = seed_hierarchical_neighbors(pe, cube, sip, 8, N_CUBES, 2)
            assert {d: peer for d, peer in edges[(cube, pe)].items()} == want, (sip, cube, pe)


def test_hierarchical_plans_land_as_the_seeds_ring_pairing(topo):
    """Seed: the pairing in the seeds' hierarchical kernel docstring ("send via dir_dec at PE K -> recv via dir_inc
    at PE K-1", "send via dir_inc at PE K -> recv via dir_dec at PE K+1") and the ``parent`` pair exchange: every
    send lands in the receiver's ring of that pairing's direction."""
    plans = build_install_plans(load_ccl_config().selected("hierarchical_allreduce"), topo)
    table = queues_of(plans)
    rings = {q.rx_base: (node, q.direction) for node, qs in table.items() for q in qs.values() if q.rx_base}
    pairing = {"E": "W", "W": "E", "N": "S", "S": "N", "parent": "parent"}
    for node, qs in table.items():
        for q in qs.values():
            if q.send_to is not None:
                assert rings[q.peer_rx_base] == (q.send_to, pairing[q.direction]), (node, q.direction)
    assert table[(0, 0, 0)]["parent"].send_to == (1, 0, 0)
    assert table[(0, 0, 0)]["parent"].recv_from == (1, 0, 0)
    check_consistent(plans)
    check_disjoint(plans)


@pytest.mark.parametrize("sips", [3, 5])
def test_parent_is_a_one_way_ring_among_more_than_two_sips(topo, sips):
    """Beyond the seeds (their level 3 is a two-SIP exchange): ``parent`` sends to the next SIP's leader and
    receives from the previous one's, on the same direction name."""
    plans = build_install_plans(load_ccl_config().selected("hierarchical_allreduce"), with_sips(topo, sips))
    table = queues_of(plans)
    for r in range(sips):
        parent = table[(r, 0, 0)]["parent"]
        assert (parent.send_to, parent.recv_from) == (((r + 1) % sips, 0, 0), ((r - 1) % sips, 0, 0))
    check_consistent(plans)


def seed_bidir_reduce(tl, acc, my_id, group_size, dir_inc, dir_dec, shape, dtype):
    """The seeds' ``_bidir_reduce``."""
    if group_size <= 1:
        return acc
    half = group_size // 2
    if my_id == 0:
        acc = acc + tl.recv(dir=dir_inc, shape=shape, dtype=dtype)
        if group_size - half - 1 >= 1:
            acc = acc + tl.recv(dir=dir_dec, shape=shape, dtype=dtype)
    elif my_id <= half:
        if my_id < half:
            acc = acc + tl.recv(dir=dir_inc, shape=shape, dtype=dtype)
        tl.send(dir=dir_dec, src=acc)
    else:
        if my_id > half + 1:
            acc = acc + tl.recv(dir=dir_dec, shape=shape, dtype=dtype)
        tl.send(dir=dir_inc, src=acc)
    return acc


def seed_chain_broadcast(tl, acc, my_id, group_size, dir_inc, shape, dtype):
    """The seeds' ``_chain_broadcast``."""
    if group_size <= 1:
        return acc
    recv_dir = {"E": "W", "W": "E", "N": "S", "S": "N"}.get(dir_inc, dir_inc)
    if my_id == 0:
        tl.send(dir=dir_inc, src=acc)
    else:
        acc = tl.recv(dir=recv_dir, shape=shape, dtype=dtype)
        if my_id < group_size - 1:
            tl.send(dir=dir_inc, src=acc)
    return acc


def seed_hierarchical_kernel(t_ptr, n_elem, pes_per_cube, cubes_per_sip, num_sips, tl):
    """The seeds' hierarchical ``kernel`` (ADR-0029 D5: ``t_ptr`` is this PE's own tile)."""
    pe_id, local_cube_id = tl.program_id(axis=0), tl.program_id(axis=1)
    shape, dtype = (n_elem,), "f32"
    acc = tl.load(t_ptr, shape=shape, dtype=dtype)
    acc = seed_bidir_reduce(tl, acc, pe_id, pes_per_cube, "E", "W", shape, dtype)
    if pe_id == 0 and cubes_per_sip > 1:
        acc = seed_bidir_reduce(tl, acc, local_cube_id, cubes_per_sip, "N", "S", shape, dtype)
    if pe_id == 0 and local_cube_id == 0 and num_sips > 1:
        tl.send(dir="parent", src=acc)
        acc = acc + tl.recv(dir="parent", shape=shape, dtype=dtype)
    if pe_id == 0 and cubes_per_sip > 1:
        acc = seed_chain_broadcast(tl, acc, local_cube_id, cubes_per_sip, "N", shape, dtype)
    acc = seed_chain_broadcast(tl, acc, pe_id, pes_per_cube, "E", shape, dtype)
    tl.store(t_ptr, acc)


@pytest.mark.parametrize(("cubes", "pes"), [(16, 8), (3, 4), (2, 2)])
def test_the_seeds_hierarchical_kernel_runs_on_hierarchical_3level(cubes, pes):
    """Seed: the seeds' hierarchical ``kernel`` (written against their table: N/S between cube leaders, ``parent``
    between the two SIPs) on this project's ``hierarchical_3level`` wiring: no deadlock, every PE the full sum."""
    sips, n_elem = 2, 8
    inputs = [np.full(n_elem, i % 17, np.float32) for i in range(sips * cubes * pes)]
    outputs = run_kernel_in_mock(
        seed_hierarchical_kernel,
        len(inputs),
        "hierarchical_3level",
        inputs,
        (n_elem, pes, cubes, sips),
        pes,
        cubes_per_sip=cubes,
        geometry=CclGeometry(sips, cubes, 1, pes),
    )
    for out in outputs:
        np.testing.assert_array_equal(out, sum(inputs))


@pytest.mark.parametrize("sips", [1, 2, 3, 4])
def test_hierarchical_allreduce_runs_on_the_seeds_table(sips):
    """This project's hierarchical kernel on the seeds' table, two and more SIPs (mock runtime)."""
    cubes, pes, n_elem = 3, 4, 37
    rng = np.random.default_rng(sips)
    inputs = [rng.integers(-8, 9, n_elem).astype(np.float32) for _ in range(sips * cubes * pes)]
    geometry = CclGeometry(sips, cubes, 1, pes)
    args = hierarchical_allreduce.kernel_args(
        AllReduceRequest(
            n_elem=n_elem,
            world_size=sips,
            dtype="f32",
            op="sum",
            slot_elems=4,
            n_slots=2,
            geometry=geometry,
            topology="hierarchical_3level",
        ),
    )
    outputs = run_kernel_in_mock(
        hierarchical_allreduce.kernel,
        len(inputs),
        "none",
        inputs,
        args,
        pes,
        cubes_per_sip=cubes,
        module=hierarchical_allreduce,
        n_slots=2,
        slot_size=16,
        geometry=geometry,
    )
    for out in outputs:
        np.testing.assert_array_equal(out, np.add.reduce(inputs))


# -- intercube ------------------------------------------------------------------------------------------------


def intercube_queues(topo):
    plans = build_install_plans(load_ccl_config().selected("intercube_allreduce"), topo)
    return plans, queues_of(plans)


def peer(queues, sip, cube, direction):
    return queues[(sip, cube, 0)][direction].send_to


def test_seed_sfr_world_size_and_rank_to_pe(topo):
    """Seed: ``TestConfigureSfrNeighborTables.test_world_size_and_rank_to_pe``: PE 0 of every cube takes part.
    Difference: the seeds' plan had world_size n_sips * 16 (rank = PE); here it is n_sips (rank = SIP)."""
    plans, _ = intercube_queues(topo)
    assert len(plans) == topo.sip_count
    for plan in plans:
        assert plan.pes == tuple((cube, 0) for cube in range(N_CUBES))


def test_seed_sfr_corner_cube0_has_E_and_S_only(topo):
    """Seed: ``test_corner_cube0_has_E_and_S_only`` (of the cube mesh; ``global_*`` come on top)."""
    _, queues = intercube_queues(topo)
    mesh = {d for d in queues[(0, 0, 0)] if d in ("E", "W", "N", "S")}
    assert mesh == {"E", "S"}
    assert (peer(queues, 0, 0, "E")[1], peer(queues, 0, 0, "S")[1]) == (1, 4)


def test_seed_sfr_interior_cube5_has_all_four(topo):
    """Seed: ``test_interior_cube5_has_all_four``."""
    _, queues = intercube_queues(topo)
    assert {d: peer(queues, 0, 5, d)[1] for d in "NSEW"} == {"N": 1, "S": 9, "E": 6, "W": 4}


def test_seed_sfr_root_cube15_has_inter_sip(topo):
    """Seed: ``test_root_cube15_has_inter_sip``."""
    _, queues = intercube_queues(topo)
    q0 = queues[(0, 15, 0)]
    assert {"N", "W", "global_E", "global_W"} <= set(q0)
    assert not {"E", "S"} & set(q0)
    assert peer(queues, 0, 15, "global_E") == (1, 15, 0)
    assert peer(queues, 1, 15, "global_E") == (0, 15, 0)


@pytest.mark.parametrize("root_cube", [15, 0, 6])
def test_seed_sfr_all_cubes_have_inter_sip(topo, root_cube):
    """Seed: ``test_all_cubes_have_inter_sip`` (every cube wired to the other SIPs, the root from ``root_cube``)."""
    _, queues = intercube_queues(topo)
    for cube in range(N_CUBES):
        assert {"global_E", "global_W"} <= set(queues[(0, cube, 0)]), cube
        assert peer(queues, 0, cube, "global_E") == (1, cube, 0)
    assert peer(queues, 0, root_cube, "global_E")[0] != 0


def test_intercube_plans_fit_and_land_on_torus_and_mesh(topo):
    """Every cube's four ``global_*`` queues fit the TCM ring region beside the cube mesh and the process group's
    ring, on a 4-SIP torus (the seeds' torus_4sip), and every send lands where its receiver listens."""
    cfg = load_ccl_config().selected("intercube_allreduce")
    for kind in ("torus_2d", "mesh_2d_no_wrap"):
        plans = build_install_plans(
            cfg, with_sips(topo, 4, kind), extra=(("ring_", load_ccl_config().selected("ring_allreduce_tcm")),)
        )
        check_consistent(plans)
        check_disjoint(plans)


SIP_TOPO_KIND = {"ring_1d": 0, "torus_2d": 1, "mesh_2d": 1, "mesh_2d_no_wrap": 2}


def seed_intercube_kernel(t_ptr, n_elem, cube_w, cube_h, n_sips, sip_rank, sip_topo_kind, sip_topo_w, sip_topo_h, tl):
    """The seeds' ``allreduce_intercube_multidevice`` (``t_ptr``: this cube's tile; f32)."""
    shape, dtype = (n_elem,), "f32"

    def recv(d):
        return tl.recv(dir=d, shape=shape, dtype=dtype)

    def line(acc, pos, size, fwd, back):  # the seeds' reduce toward the end, then broadcast back
        if pos == 0:
            tl.send(dir=fwd, src=acc)
        elif pos < size - 1:
            acc = acc + recv(back)
            tl.send(dir=fwd, src=acc)
        else:
            acc = acc + recv(back)
        if pos == size - 1:
            tl.send(dir=back, src=acc)
        elif pos > 0:
            acc = recv(fwd)
            tl.send(dir=back, src=acc)
        else:
            acc = recv(fwd)
        return acc

    def ring(acc, size, fwd, back):  # the seeds' _inter_sip_ring rounds
        current = acc
        for _ in range(size - 1):
            tl.send(dir=fwd, src=current)
            got = recv(back)
            acc, current = acc + got, got
        return acc

    cube_id = tl.program_id(axis=1)
    row, col = divmod(cube_id, cube_w)
    acc = tl.load(t_ptr, shape=shape, dtype=dtype)
    if col == 0:
        tl.send(dir="E", src=acc)
    elif col < cube_w - 1:
        acc = acc + recv("W")
        tl.send(dir="E", src=acc)
    else:
        acc = acc + recv("W")
    if col == cube_w - 1:
        if row == 0:
            tl.send(dir="S", src=acc)
        elif row < cube_h - 1:
            acc = acc + recv("N")
            tl.send(dir="S", src=acc)
        else:
            acc = acc + recv("N")
    root_cube = (cube_h - 1) * cube_w + (cube_w - 1)
    if cube_id == root_cube and n_sips > 1:
        if sip_topo_kind == 0:
            acc = ring(acc, n_sips, "global_E", "global_W")
        elif sip_topo_kind == 1:
            acc = ring(acc, sip_topo_w, "global_E", "global_W")
            acc = ring(acc, sip_topo_h, "global_S", "global_N")
        else:
            acc = line(acc, sip_rank % sip_topo_w, sip_topo_w, "global_E", "global_W")
            acc = line(acc, sip_rank // sip_topo_w, sip_topo_h, "global_S", "global_N")
    if col == cube_w - 1:
        if row == cube_h - 1:
            tl.send(dir="N", src=acc)
        elif row > 0:
            acc = recv("S")
            tl.send(dir="N", src=acc)
        else:
            acc = recv("S")
    if col == cube_w - 1:
        tl.send(dir="W", src=acc)
    elif col > 0:
        acc = recv("E")
        tl.send(dir="W", src=acc)
    else:
        acc = recv("E")
    tl.store(t_ptr, acc)


@pytest.mark.parametrize(
    ("sip_topology", "sips"), [("ring_1d", 2), ("torus_2d", 4), ("mesh_2d_no_wrap", 4), ("ring_1d", 3)]
)
def test_the_seeds_intercube_kernel_runs_on_the_intercube_wiring(sip_topology, sips):
    """Seed: ``allreduce_intercube_multidevice`` with the seeds' CONFIGS (ring_2sip, torus_4sip, mesh_4sip) on
    this project's intercube wiring (4x4 cubes): no deadlock, every cube of every SIP the full sum."""
    n_elem, cube_w, cube_h = 8, 4, 4
    side = 0 if sip_topology == "ring_1d" else round(sips**0.5)
    inputs = [np.full(n_elem, 1 + i // N_CUBES, np.float32) for i in range(sips * N_CUBES)]
    geometry = CclGeometry(sips, cube_w, cube_h, 1, sip_topology)

    def kernel(t_ptr, n, tl):
        seed_intercube_kernel(t_ptr, n, cube_w, cube_h, sips, tl.rank, SIP_TOPO_KIND[sip_topology], side, side, tl)

    outputs = run_kernel_in_mock(
        kernel,
        len(inputs),
        "none",
        inputs,
        (n_elem,),
        1,
        cubes_per_sip=N_CUBES,
        module=intercube_allreduce,
        geometry=geometry,
    )
    for out in outputs:
        np.testing.assert_array_equal(out, N_CUBES * sum(range(1, sips + 1)))


@pytest.mark.parametrize("root_cube", [0, 5, 10, 15])
@pytest.mark.parametrize(("sip_topology", "sips"), [("ring_1d", 3), ("torus_2d", 4), ("mesh_2d_no_wrap", 4)])
def test_intercube_allreduce_with_any_root_cube(sip_topology, sips, root_cube):
    """This project's intercube kernel with ``root_cube`` anywhere on a 4x4 cube mesh (mock runtime)."""
    n_elem = 37
    rng = np.random.default_rng(root_cube)
    inputs = [rng.integers(-8, 9, n_elem).astype(np.float32) for _ in range(sips * N_CUBES)]
    geometry = CclGeometry(sips, 4, 4, 1, sip_topology)
    args = intercube_allreduce.kernel_args(
        AllReduceRequest(
            n_elem=n_elem,
            world_size=sips,
            dtype="f32",
            op="sum",
            slot_elems=4,
            n_slots=2,
            geometry=geometry,
            topology="none",
        ),
        root_cube=root_cube,
    )
    outputs = run_kernel_in_mock(
        intercube_allreduce.kernel,
        len(inputs),
        "none",
        inputs,
        args,
        1,
        cubes_per_sip=N_CUBES,
        module=intercube_allreduce,
        n_slots=2,
        slot_size=16,
        geometry=geometry,
    )
    for out in outputs:
        np.testing.assert_array_equal(out, np.add.reduce(inputs))
