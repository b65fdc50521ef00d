"""The seeds' ring, tree and mesh kernels, unchanged, under the mock runtime (issue 13 point 1).

Ported from seed 000 ``tests/ccl/test_mock_runtime.py`` (test_ring_allreduce_4_ranks, _8_ranks, _random_data,
test_mock_runtime_invalid_direction_raises), ``tests/ccl/test_hello_send.py`` (test_hello_send_4_ranks_mock) and
``tests/ccl/test_recv_async.py`` (test_recv_async_mock_runtime); tree and mesh follow the same pattern with the
seeds' ``tree_allreduce`` / ``mesh_allreduce`` kernels. The seeds' mock puts all ranks in one cube when
``pes_per_cube == 0`` (``_MockRankState``) and groups them ``pes_per_cube`` to a cube otherwise (``_MockTL.
program_id``): both layouts run here.
"""

import numpy as np
import pytest

from kernbench.ccl.testing import run_kernel_in_mock
from kernbench.engine import KernelError
from tests.kernbench.seeds import kernels


def _full(world, n_elem):
    return [np.full((n_elem,), float(r + 1), dtype=np.float16) for r in range(world)]


def test_ring_allreduce_4_ranks():
    n_elem = 8
    inputs = _full(4, n_elem)
    expected = sum(inputs)  # [10, 10, ..., 10]
    outputs = run_kernel_in_mock(
        kernel_fn=kernels.ring_kernel, world_size=4, topology="ring_1d", inputs=inputs, kernel_args=(n_elem, 4)
    )
    assert len(outputs) == 4
    for r in range(4):
        assert np.allclose(outputs[r], expected)


def test_ring_allreduce_8_ranks():
    n_elem = 16
    inputs = _full(8, n_elem)
    outputs = run_kernel_in_mock(
        kernel_fn=kernels.ring_kernel, world_size=8, topology="ring_1d", inputs=inputs, kernel_args=(n_elem, 8)
    )
    for r in range(8):
        assert np.allclose(outputs[r], sum(inputs))


def test_ring_allreduce_random_data():
    n_elem = 32
    rng = np.random.default_rng(42)
    inputs = [rng.standard_normal(n_elem).astype(np.float16) for _ in range(4)]
    outputs = run_kernel_in_mock(
        kernel_fn=kernels.ring_kernel, world_size=4, topology="ring_1d", inputs=inputs, kernel_args=(n_elem, 4)
    )
    for r in range(4):
        assert np.allclose(outputs[r], sum(inputs), rtol=1e-2, atol=1e-2)


def test_mock_runtime_invalid_direction_raises():
    def bad_kernel(t_ptr, n_elem, tl):
        tl.send(dir="N", src=tl.load(t_ptr, shape=(n_elem,), dtype="f16"))

    inputs = [np.array([1.0], dtype=np.float16) for _ in range(2)]
    with pytest.raises(KernelError, match=r"tl\.send on direction 'N': rank 0 cube 0 pe 0 sends on \['E', 'W'\]"):
        run_kernel_in_mock(kernel_fn=bad_kernel, world_size=2, topology="ring_1d", inputs=inputs, kernel_args=(1,))


def test_hello_send_4_ranks_mock():
    n_elem = 8
    inputs = _full(4, n_elem)
    outputs = run_kernel_in_mock(
        kernel_fn=kernels.hello_send_kernel, world_size=4, topology="ring_1d", inputs=inputs, kernel_args=(n_elem,)
    )
    for r in range(4):
        assert np.array_equal(outputs[r], inputs[(r - 1) % 4]), f"rank {r}: got {outputs[r]}"


def test_recv_async_mock_runtime():
    """The seeds' recv_async example: every rank ends with the sum (not its own input)."""
    n_elem = 8
    inputs = _full(4, n_elem)
    outputs = run_kernel_in_mock(
        kernel_fn=kernels.kernel_async_recv, world_size=4, topology="ring_1d", inputs=inputs, kernel_args=(n_elem,)
    )
    for r in range(4):
        assert np.allclose(outputs[r], sum(inputs))


@pytest.mark.parametrize("world", [2, 3, 6, 7])
def test_tree_allreduce_every_rank_gets_the_sum(world):
    """The seeds' binary-tree kernel: only rank 0 is the root (every rank acting as root used to fail)."""
    n_elem = 8
    inputs = _full(world, n_elem)
    outputs = run_kernel_in_mock(
        kernels.tree_kernel, world, "tree_binary", inputs, kernels.tree_kernel_args(world, n_elem)
    )
    for r in range(world):
        assert np.array_equal(outputs[r], sum(inputs)), f"rank {r}"


@pytest.mark.parametrize(("world", "topology"), [(4, "mesh_2d"), (9, "mesh_2d"), (9, "torus_2d")])
def test_mesh_allreduce_every_rank_gets_the_sum(world, topology):
    n_elem = 8
    inputs = _full(world, n_elem)
    outputs = run_kernel_in_mock(kernels.mesh_kernel, world, topology, inputs, kernels.mesh_kernel_args(world, n_elem))
    for r in range(world):
        assert np.array_equal(outputs[r], sum(inputs)), f"rank {r}"


SEVERAL_CUBES = [
    (kernels.ring_kernel, kernels.ring_kernel_args, "ring_1d", 8, 4),
    (kernels.ring_kernel, kernels.ring_kernel_args, "ring_1d", 12, 3),
    (kernels.tree_kernel, kernels.tree_kernel_args, "tree_binary", 8, 2),
    (kernels.tree_kernel, kernels.tree_kernel_args, "tree_binary", 12, 4),
    (kernels.mesh_kernel, kernels.mesh_kernel_args, "mesh_2d", 16, 4),
    (kernels.mesh_kernel, kernels.mesh_kernel_args, "mesh_2d", 4, 2),
]


@pytest.mark.parametrize(("kernel", "kernel_args", "topology", "world", "pes_per_cube"), SEVERAL_CUBES)
def test_seed_kernels_over_several_cubes(kernel, kernel_args, topology, world, pes_per_cube):
    """``pes_per_cube > 0``: rank = cube * pes_per_cube + pe, tiles at t_ptr + rank * nbytes (seed ``_MockTL``)."""
    n_elem = 16
    rng = np.random.default_rng(world)
    inputs = [rng.integers(-8, 9, n_elem).astype(np.float16) for _ in range(world)]
    outputs = run_kernel_in_mock(kernel, world, topology, inputs, kernel_args(world, n_elem), pes_per_cube=pes_per_cube)
    for r in range(world):
        assert np.array_equal(outputs[r], sum(inputs)), f"rank {r}"
