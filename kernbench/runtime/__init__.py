"""The runtime layer: the PyTorch-like ``torch`` object (`RuntimeContext`), tensors and their placement.

Above the kernels and the engine: tensors are deployed and read with engine requests, kernels launched with
`KernelLaunchMsg`. Placement (`DPPolicy`, `ShardSpec`) is intra-device only (ADR-0026 of the seeds).
"""

from kernbench.runtime.allocator import AllocationError, DeviceAllocators
from kernbench.runtime.context import AcceleratorNamespace, AhbmNamespace, RuntimeContext
from kernbench.runtime.placement import DPPolicy, ShardSpec, resolve_dp_policy
from kernbench.runtime.tensor import CrossShardIndexError, Tensor

__all__ = [
    "AcceleratorNamespace",
    "AhbmNamespace",
    "AllocationError",
    "CrossShardIndexError",
    "DPPolicy",
    "DeviceAllocators",
    "RuntimeContext",
    "ShardSpec",
    "Tensor",
    "resolve_dp_policy",
]
