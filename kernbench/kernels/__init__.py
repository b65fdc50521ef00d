"""The kernel layer: Triton-style kernels (`tl`) running on PEs, with timing and real data.

Above the engine (it drives `kernbench.engine.PeContext`), below the runtime and the collectives.
"""

from kernbench.kernels.dtypes import DTYPE_NAMES, decode, dtype_info, encode, itemsize, numpy_dtype_name
from kernbench.kernels.handle import FLOPS_PER_ELEMENT, TensorHandle
from kernbench.kernels.program import make_program
from kernbench.kernels.tl import TL
from kernbench.kernels.tl_base import LoadHandle, RecvHandle, SendHandle, TLBase

__all__ = [
    "DTYPE_NAMES",
    "FLOPS_PER_ELEMENT",
    "TL",
    "LoadHandle",
    "RecvHandle",
    "SendHandle",
    "TLBase",
    "TensorHandle",
    "decode",
    "dtype_info",
    "encode",
    "itemsize",
    "make_program",
    "numpy_dtype_name",
]
