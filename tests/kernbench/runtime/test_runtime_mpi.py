"""Tensors and kernels under mpirun, compared for equality with the single-process run.

Run with: mpirun -n N python -m pytest --with-mpi -m mpi tests/kernbench/runtime  (N >= 2)
"""

import numpy as np
import pytest

from kernbench.runtime import DPPolicy

from ..kernels.conftest import on_sip
from ..kernels.test_tl import column_gemm_kernel, matrices

pytestmark = pytest.mark.mpi(min_size=2)


def sharded_gemm(torch):
    """A column-sharded GEMM on all 8 PEs of cube 0 of the worker's SIP; its output and timings."""
    a_np, b_np = matrices(16, 64, 128, seed=4)
    cols = DPPolicy(pe="column_wise", num_cubes=1)
    with torch:
        a = torch.zeros((16, 64), dp=DPPolicy(pe="replicate", num_cubes=1))
        b, out = torch.zeros((64, 128), dp=cols), torch.empty((16, 128), dp=cols)
        a.copy_(a_np)
        b.copy_(b_np)
        done = torch.launch("colgemm", column_gemm_kernel, a, b, out, 16, 64, 128)
        return {
            "out": out.numpy(),
            "latency": done.latency_ns,
            "detail": done.detail,
            "end": torch.engine.now(),
            "trace": torch.traces[torch.current_device()].totals(),
        }


@pytest.mark.parametrize("sip", [0, 1])
def test_a_kernel_on_any_sip_equals_single_process(topo, sip):
    """Whichever rank owns the SIP runs the host code; every rank sees the same results as one process."""
    split, result = on_sip(topo, sharded_gemm, sip=sip, transport="mpi")
    single, _ = on_sip(topo, sharded_gemm, sip=sip, transport="local")
    assert result.stats["totals"]["ranks"] >= 2
    np.testing.assert_array_equal(split["out"], single["out"])
    assert {k: v for k, v in split.items() if k != "out"} == {k: v for k, v in single.items() if k != "out"}
