"""Collectives: ccl.yaml, topologies, mappers, validators, install plans, and algorithms that run as kernels.

Above the kernels (algorithms are `tl` kernels) and below the runtime's ``torch.distributed``.
"""

from kernbench.ccl.config import (
    DEFAULT_CCL_PATH,
    AlgorithmConfig,
    CclConfig,
    CclConfigError,
    load_ccl_config,
    parse_ccl_config,
)
from kernbench.ccl.install_plan import (
    InstallPlans,
    PeInstall,
    SipInstallPlan,
    build_install_plans,
    world_size_of,
)
from kernbench.ccl.mappers import MAPPERS, resolve_mapper
from kernbench.ccl.request import AllReduceRequest
from kernbench.ccl.ring import (
    REDUCE_OPS,
    ring_all_gather_kernel,
    ring_broadcast_kernel,
    ring_reduce_kernel,
    ring_reduce_scatter_kernel,
)
from kernbench.ccl.topologies import CclGeometry, grid_dims, pe_edges
from kernbench.ccl.validators import VALIDATORS, resolve_validator

__all__ = [
    "DEFAULT_CCL_PATH",
    "MAPPERS",
    "REDUCE_OPS",
    "VALIDATORS",
    "AlgorithmConfig",
    "AllReduceRequest",
    "CclConfig",
    "CclConfigError",
    "CclGeometry",
    "InstallPlans",
    "PeInstall",
    "SipInstallPlan",
    "build_install_plans",
    "grid_dims",
    "load_ccl_config",
    "merge_trace",
    "parse_ccl_config",
    "pe_edges",
    "pointer_dump",
    "resolve_mapper",
    "resolve_validator",
    "ring_all_gather_kernel",
    "ring_broadcast_kernel",
    "ring_reduce_kernel",
    "ring_reduce_scatter_kernel",
    "world_size_of",
]


def __getattr__(name: str):
    """``pointer_dump`` and ``merge_trace`` from `kernbench.ccl.diagnostics`, imported on first use (so that
    ``python -m kernbench.ccl.diagnostics`` does not find its module already imported by the package)."""
    if name in ("pointer_dump", "merge_trace"):
        from kernbench.ccl import diagnostics

        return getattr(diagnostics, name)
    raise AttributeError(f"module 'kernbench.ccl' has no attribute {name!r}")
