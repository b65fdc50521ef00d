"""Tensor parallelism under mpirun, compared with the single-process run.

Run with: mpirun -n N python -m pytest --with-mpi -m mpi tests/kernbench/tp  (N >= 2)
"""

import numpy as np
import pytest

from tests.kernbench.helpers import with_sips

from .mlp import spawn_mlp

pytestmark = pytest.mark.mpi(min_size=2)


@pytest.mark.parametrize("sips", [2, 4])
def test_mlp_equals_single_process(topo, sips):
    system = with_sips(topo, sips)
    split, single = spawn_mlp(system, transport="mpi"), spawn_mlp(system, transport="local")
    assert sorted(split) == sorted(single) == list(range(sips))
    for rank in range(sips):
        np.testing.assert_array_equal(split[rank]["y"], single[rank]["y"])
        assert split[rank]["ns"] == single[rank]["ns"]
