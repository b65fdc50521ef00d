"""Every all-reduce algorithm module under the mock runtime: exact results, every op and dtype, long tiles on
short rings, and the same bits on every rank.

Data are small random integers, so sums are exact in f16 and f32 whatever the order of the additions; tiles are
longer than a slot (37 elements, 4 per slot) and rings short (2 slots) unless a test says otherwise.
"""

import numpy as np
import pytest

from kernbench.ccl.algorithms import (
    hierarchical_allreduce,
    intercube_allreduce,
    mesh_allreduce,
    ring_allreduce,
    tree_allreduce,
)
from kernbench.ccl.request import AllReduceRequest
from kernbench.ccl.testing import run_kernel_in_mock
from kernbench.ccl.topologies import CclGeometry
from kernbench.engine import KernelError

NUMPY = {"f16": np.float16, "f32": np.float32}
REDUCE = {"sum": np.add.reduce, "max": np.maximum.reduce, "min": np.minimum.reduce}


def allreduce(
    module,
    topology,
    geometry,
    pes_per_cube=0,
    *,
    inputs=None,
    op="sum",
    dtype="f32",
    n_elem=37,
    slot_elems=4,
    n_slots=2,
    seed=0,
):
    """Run ``module`` in the mock on the programs ``geometry`` and ``pes_per_cube`` describe; (inputs, outputs)."""
    per_rank = geometry.cubes_per_sip * pes_per_cube if pes_per_cube else 1
    programs = geometry.world_size * per_rank
    if inputs is None:
        rng = np.random.default_rng(seed)
        inputs = [rng.integers(-8, 9, n_elem).astype(NUMPY[dtype]) for _ in range(programs)]
    args = module.kernel_args(
        AllReduceRequest(
            n_elem=inputs[0].size,
            world_size=geometry.world_size,
            dtype=dtype,
            op=op,
            slot_elems=slot_elems,
            n_slots=n_slots,
            geometry=geometry,
            topology=topology,
        )
    )
    itemsize = np.dtype(NUMPY[dtype]).itemsize
    outputs = run_kernel_in_mock(
        module.kernel,
        programs,
        topology,
        inputs,
        args,
        pes_per_cube,
        cubes_per_sip=geometry.cubes_per_sip if pes_per_cube else 0,
        module=module,
        n_slots=n_slots,
        slot_size=slot_elems * itemsize,
        geometry=geometry,
    )
    return inputs, outputs


def expected(values, op, dtype):
    """What every contributor ends with: avg is the sum times 1/n, rounded once to the dtype (as the kernels do)."""
    if op == "avg":
        total = np.add.reduce([v.astype(np.float32) for v in values])
        return (total * np.float32(1.0 / len(values))).astype(NUMPY[dtype])
    return REDUCE[op](values)


def assert_all_equal(outputs, want):
    for i, out in enumerate(outputs):
        assert out.dtype == want.dtype
        np.testing.assert_array_equal(out, want, err_msg=f"program {i}")


def hier_geometry(sips, cubes, pes):
    return CclGeometry(sips, cube_w=cubes, pes_per_cube=pes)


def intercube_geometry(sips, sip_topology, cube_w=2, cube_h=2):
    return CclGeometry(sips, cube_w=cube_w, cube_h=cube_h, pes_per_cube=8, sip_topology=sip_topology)


# (module, topology, geometry, pes_per_cube) of one run per algorithm: the op / dtype / long-tile matrix runs these
CASES = {
    "ring": (ring_allreduce, "ring_1d", CclGeometry(4), 0),
    "ring_unidir": (ring_allreduce, "ring_1d_unidir", CclGeometry(3), 0),
    "mesh_torus": (mesh_allreduce, "torus_2d", CclGeometry(6), 0),
    "mesh_no_wrap": (mesh_allreduce, "mesh_2d_no_wrap", CclGeometry(6), 0),
    "tree": (tree_allreduce, "tree_binary", CclGeometry(6), 0),
    "hierarchical": (hierarchical_allreduce, "hierarchical_3level", hier_geometry(2, 2, 3), 3),
    "intercube": (intercube_allreduce, "none", intercube_geometry(4, "torus_2d"), 1),
}


@pytest.mark.parametrize("world", [2, 3, 4, 8])
def test_ring_allreduce(world):
    inputs, outputs = allreduce(ring_allreduce, "ring_1d", CclGeometry(world))
    assert_all_equal(outputs, expected(inputs, "sum", "f32"))


@pytest.mark.parametrize("world", [2, 5])
def test_ring_allreduce_on_a_one_way_ring(world):
    inputs, outputs = allreduce(ring_allreduce, "ring_1d_unidir", CclGeometry(world))
    assert_all_equal(outputs, expected(inputs, "sum", "f32"))


@pytest.mark.parametrize("topology", ["mesh_2d", "torus_2d", "mesh_2d_no_wrap"])
@pytest.mark.parametrize("world", [4, 6, 9, 7, 1])
def test_mesh_allreduce(topology, world):
    inputs, outputs = allreduce(mesh_allreduce, topology, CclGeometry(world))
    assert_all_equal(outputs, expected(inputs, "sum", "f32"))


@pytest.mark.parametrize("world", range(1, 9))
def test_tree_allreduce(world):
    inputs, outputs = allreduce(tree_allreduce, "tree_binary", CclGeometry(world))
    assert_all_equal(outputs, expected(inputs, "sum", "f32"))


def test_hierarchical_2_sips_2_cubes_4_pes_sums_every_pe():
    """The seeds' T3: PE i of 16 starts with i + 1; every PE ends with sum(1..16) = 136."""
    inputs = [np.full(8, i + 1, np.float16) for i in range(16)]
    _, outputs = allreduce(
        hierarchical_allreduce,
        "hierarchical_3level",
        hier_geometry(2, 2, 4),
        4,
        inputs=inputs,
        dtype="f16",
        slot_elems=3,
    )
    assert_all_equal(outputs, np.full(8, 136, np.float16))


@pytest.mark.parametrize(("sips", "cubes", "pes"), [(1, 1, 1), (1, 1, 5), (1, 4, 1), (3, 3, 2), (2, 4, 5), (5, 1, 1)])
def test_hierarchical_allreduce_shapes(sips, cubes, pes):
    inputs, outputs = allreduce(hierarchical_allreduce, "hierarchical_3level", hier_geometry(sips, cubes, pes), pes)
    assert_all_equal(outputs, expected(inputs, "sum", "f32"))


@pytest.mark.parametrize(
    ("sips", "sip_topology", "cube_w", "cube_h"),
    [
        (2, "ring_1d", 2, 2),
        (4, "torus_2d", 2, 2),
        (4, "mesh_2d_no_wrap", 2, 2),
        (3, "ring_1d", 3, 2),
        (1, "ring_1d", 2, 2),
        (9, "mesh_2d_no_wrap", 1, 2),
        (9, "torus_2d", 2, 1),
    ],
)
def test_intercube_allreduce(sips, sip_topology, cube_w, cube_h):
    geometry = intercube_geometry(sips, sip_topology, cube_w, cube_h)
    inputs, outputs = allreduce(intercube_allreduce, "none", geometry, 1)
    assert_all_equal(outputs, expected(inputs, "sum", "f32"))


@pytest.mark.parametrize("dtype", ["f16", "f32"])
@pytest.mark.parametrize("op", ["sum", "max", "min", "avg"])
@pytest.mark.parametrize("case", CASES)
def test_every_op_and_dtype(case, op, dtype):
    inputs, outputs = allreduce(*CASES[case], op=op, dtype=dtype)
    assert_all_equal(outputs, expected(inputs, op, dtype))


@pytest.mark.parametrize("n_slots", [1, 2])
@pytest.mark.parametrize("case", CASES)
def test_tiles_many_slots_long_on_short_rings_do_not_deadlock(case, n_slots):
    inputs, outputs = allreduce(*CASES[case], n_elem=301, slot_elems=3, n_slots=n_slots)
    assert_all_equal(outputs, expected(inputs, "sum", "f32"))


@pytest.mark.parametrize("case", CASES)
def test_every_rank_ends_with_the_same_bits_on_inexact_data(case):
    module, topology, geometry, pes = CASES[case]
    rng = np.random.default_rng(7)
    programs = geometry.world_size * (geometry.cubes_per_sip * pes if pes else 1)
    inputs = [rng.standard_normal(37).astype(np.float16) for _ in range(programs)]
    _, outputs = allreduce(module, topology, geometry, pes, inputs=inputs, dtype="f16")
    assert all(out.tobytes() == outputs[0].tobytes() for out in outputs)
    np.testing.assert_allclose(outputs[0], np.add.reduce([x.astype(np.float64) for x in inputs]), atol=0.1)


def test_lane_wise_algorithms_reduce_each_pe_with_the_same_pe_of_the_other_ranks():
    geometry = CclGeometry(3, cube_w=2, pes_per_cube=2)
    inputs, outputs = allreduce(ring_allreduce, "ring_1d", geometry, 2)
    for lane in range(4):
        assert_all_equal(outputs[lane::4], expected(inputs[lane::4], "sum", "f32"))


def test_kernel_arguments():
    common = {"n_elem": 8, "dtype": "f16", "op": "max", "slot_elems": 4, "n_slots": 3, "topology": "x"}

    def request(world, geometry, **changes):
        return AllReduceRequest(world_size=world, geometry=geometry, **common | changes)

    assert ring_allreduce.kernel_args(request(4, CclGeometry(4))) == (8, "f16", "max", 4, 4, 3)
    assert mesh_allreduce.kernel_args(request(6, CclGeometry(6))) == (8, "f16", "max", 3, 2, True, 4, 3)
    assert mesh_allreduce.kernel_args(request(6, CclGeometry(6), topology="mesh_2d_no_wrap"))[5] is False
    assert tree_allreduce.kernel_args(request(7, CclGeometry(7))) == (8, "f16", "max", 7, 4)
    assert hierarchical_allreduce.kernel_args(request(2, hier_geometry(2, 16, 8))) == (8, "f16", "max", 2, 4, 3)
    assert intercube_allreduce.kernel_args(request(4, intercube_geometry(4, "mesh_2d_no_wrap", 4, 4))) == (
        8,
        "f16",
        "max",
        4,
        4,
        4,
        2,
        2,
        False,
        4,
        3,
        15,
    )
    assert hierarchical_allreduce.REDUCES_ACROSS_PES
    assert intercube_allreduce.REDUCES_ACROSS_PES
    assert not hasattr(ring_allreduce, "REDUCES_ACROSS_PES")


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (
            intercube_geometry(4, "tree_binary"),
            "SIP topology must be one of ring_1d, torus_2d, mesh_2d, mesh_2d_no_wrap",
        ),
        (intercube_geometry(6, "torus_2d"), "6 SIPs do not fill a 2x2 torus_2d grid"),
    ],
)
def test_intercube_refuses_sip_topologies_it_cannot_use(geometry, message):
    with pytest.raises(ValueError, match=message):
        intercube_allreduce.neighbors(0, geometry, [(0, 0)])


def test_intercube_edges_follow_the_cube_mesh_and_the_sip_topology():
    edges = intercube_allreduce.neighbors(1, intercube_geometry(4, "torus_2d"), [(c, 0) for c in range(4)])
    assert edges[(0, 0)] == {
        "E": (1, 1, 0),
        "S": (1, 2, 0),
        "global_E": (0, 0, 0),
        "global_W": (0, 0, 0),
        "global_N": (3, 0, 0),
        "global_S": (3, 0, 0),
    }
    assert edges[(3, 0)] == {
        "W": (1, 2, 0),
        "N": (1, 1, 0),
        "global_E": (0, 3, 0),
        "global_W": (0, 3, 0),
        "global_N": (3, 3, 0),
        "global_S": (3, 3, 0),
    }


def test_an_unknown_op_is_refused():
    with pytest.raises(KernelError, match="reduce op must be one of sum, max, min, avg, got 'prod'"):
        allreduce(ring_allreduce, "ring_1d", CclGeometry(2), op="prod")
