"""Values inside a kernel: `TensorHandle` (a tile held by a PE) and the math that runs on the PE's MATH unit.

A handle carries real data (numpy) and its dtype name. Arithmetic computes in float32 (int dtypes in their own
type) and returns the operands' dtype when they share one, float32 otherwise; every operation charges the
PE_CPU issue and the MATH unit for ``elements * cost`` flops, the cost per element from `FLOPS_PER_ELEMENT`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kernbench.kernels.dtypes import dtype_info

if TYPE_CHECKING:
    from kernbench.kernels.tl_base import TLBase

FLOPS_PER_ELEMENT: dict[str, int] = {
    "add": 1,
    "sub": 1,
    "mul": 1,
    "div": 1,
    "neg": 1,
    "maximum": 1,
    "minimum": 1,
    "abs": 1,
    "clamp": 2,
    "fma": 2,
    "exp": 4,
    "log": 4,
    "sqrt": 4,
    "sigmoid": 6,
    "softmax": 8,
    "sum": 1,
    "max": 1,
    "cast": 1,
}
"""MATH-unit cost of one element of each operation, in flops (transcendentals take several vector passes)."""


def compute_dtype(name: str) -> np.dtype:
    """The numpy type math is done in for dtype ``name``: float32 for floats, the type itself for ints."""
    return np.dtype(np.float32) if name in ("f16", "bf16", "f32") else dtype_info(name).storage.newbyteorder("=")


class TensorHandle:
    """A tile a PE holds (in registers / TCM): ``value`` is a numpy array, ``dtype`` its tensor dtype name."""

    __array_priority__ = 1000  # numpy scalars on the left defer to our operators

    def __init__(self, tl: TLBase, value: np.ndarray, dtype: str) -> None:
        self.tl = tl
        self.dtype = dtype
        self.value = value

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def nbytes(self) -> int:
        return int(self.value.size) * dtype_info(self.dtype).itemsize

    def numpy(self) -> np.ndarray:
        return self.value.copy()

    def __getitem__(self, key: Any) -> TensorHandle:
        """A slice of the tile (a view in the PE's registers: no hardware work)."""
        return TensorHandle(self.tl, self.value[key], self.dtype)

    def to(self, dtype: str) -> TensorHandle:
        """Cast to another dtype (a MATH pass)."""
        return self.tl._elementwise("cast", lambda v: v, [self], out_dtype=dtype)

    def __repr__(self) -> str:
        return f"TensorHandle(shape={self.shape}, dtype={self.dtype})"

    def _binary(self, name: str, fn: Callable[[Any, Any], Any], other: Any, reverse: bool = False) -> TensorHandle:
        operands = [other, self] if reverse else [self, other]
        return self.tl._elementwise(name, fn, operands)

    def __add__(self, other: Any) -> TensorHandle:
        return self._binary("add", np.add, other)

    def __radd__(self, other: Any) -> TensorHandle:
        return self._binary("add", np.add, other, reverse=True)

    def __sub__(self, other: Any) -> TensorHandle:
        return self._binary("sub", np.subtract, other)

    def __rsub__(self, other: Any) -> TensorHandle:
        return self._binary("sub", np.subtract, other, reverse=True)

    def __mul__(self, other: Any) -> TensorHandle:
        return self._binary("mul", np.multiply, other)

    def __rmul__(self, other: Any) -> TensorHandle:
        return self._binary("mul", np.multiply, other, reverse=True)

    def __truediv__(self, other: Any) -> TensorHandle:
        return self._binary("div", np.divide, other)

    def __rtruediv__(self, other: Any) -> TensorHandle:
        return self._binary("div", np.divide, other, reverse=True)

    def __neg__(self) -> TensorHandle:
        return self.tl._elementwise("neg", np.negative, [self])

    def __matmul__(self, other: TensorHandle) -> TensorHandle:
        return self.tl.dot(self, other)
