"""`TLBase`: the part of a kernel's ``tl`` that needs no hardware: launch geometry, tiles held in registers, math.

Kept apart from `kernbench.kernels.tl.TL` so the same kernel code runs on the timed engine and on the timing-free
mock runtime (`kernbench.ccl.testing`), with the same numbers: results are computed here once, rounded to their
dtype as the hardware stores them. Each operation reports its cost to a hook (`_charge_math`, `_charge_gemm`)
that the engine-backed subclass turns into timed work and the mock ignores.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import numpy as np

from kernbench.kernels.dtypes import decode, dtype_info, encode
from kernbench.kernels.handle import TensorHandle, compute_dtype
from kernbench.topology import PhysAddr

P = TypeVar("P", bound=int | PhysAddr)
"""What a subclass takes as a pointer: a virtual address (int) everywhere, a `PhysAddr` too on the engine."""


class TLBase(ABC, Generic[P]):
    """Launch geometry and register math of one program; subclasses add memory, IPCQ and the cost hooks.

    ``ids`` / ``counts``: this program's (PE-in-cube, cube) position and the number of each in the launch.
    The abstract methods are the part of ``tl`` that kernels reach memory and neighbours with, so a kernel typed
    against `TLBase` runs on either subclass.
    """

    def __init__(self, ids: tuple[int, int], counts: tuple[int, int]) -> None:
        self._ids = ids
        self._counts = counts

    # -- cost hooks ------------------------------------------------------------------------------------------------

    @abstractmethod
    def _charge_math(self, name: str, elements: int) -> None:
        """Account one MATH-unit pass of ``name`` over ``elements`` elements (flops: `FLOPS_PER_ELEMENT`)."""

    @abstractmethod
    def _charge_gemm(self, flops: int) -> None:
        """Account one GEMM of ``flops`` flops."""

    # -- memory ----------------------------------------------------------------------------------------------------

    def load(
        self, ptr: P, shape: Sequence[int] | int, dtype: str = "f16", row_stride: int | None = None
    ) -> TensorHandle:
        """A ``shape`` tile of ``dtype`` read at ``ptr`` (2D: rows ``row_stride`` bytes apart, default contiguous):
        `load_async` + `wait`."""
        tile = self.wait(self.load_async(ptr, shape, dtype, row_stride))
        assert tile is not None
        return tile

    @abstractmethod
    def load_async(
        self, ptr: P, shape: Sequence[int] | int, dtype: str = "f16", row_stride: int | None = None
    ) -> LoadHandle:
        """Start reading a tile as `load` does; the program goes on, and `wait` gives the tile."""

    @abstractmethod
    def store(self, ptr: P, value: TensorHandle | np.ndarray, dtype: str | None = None) -> None:
        """Write a tile at ``ptr`` (cast to ``dtype`` if given, else stored in its own dtype)."""

    # -- IPCQ ------------------------------------------------------------------------------------------------------

    @property
    @abstractmethod
    def rank(self) -> int:
        """This program's collective rank: its SIP."""

    def send(self, dir: str, src: TensorHandle) -> None:
        """Send a tile to the neighbour of direction ``dir`` and wait until it has left (`send_async` + `wait`)."""
        self.wait(self.send_async(dir, src))

    @abstractmethod
    def send_async(self, dir: str, src: TensorHandle) -> SendHandle:
        """Start sending a tile to the neighbour of direction ``dir``; blocks only while that neighbour's queue is
        full, and `wait` waits until the tile has left. Sends on one direction land in the order they start."""

    @abstractmethod
    def recv_async(self, dir: str, shape: Sequence[int] | int, dtype: str = "f16", dst: P | None = None) -> RecvHandle:
        """Claim the next tile from ``dir`` without waiting; `wait` gives it. Claims on one direction match tiles
        in the order they are made."""

    @abstractmethod
    def wait_until(self, ns: float) -> None:
        """Idle this PE until the system clock reads ``ns`` (simulated ns; at once if that has passed): the
        PE's timer, for releases agreed on in advance (`kernbench.ccl.barrier`)."""

    @abstractmethod
    def wait(self, handle: RecvHandle | SendHandle | LoadHandle) -> TensorHandle | None:
        """The tile of an asynchronous receive or load (None for a receive into ``dst``, once it is there, and for
        a send, once it has left)."""

    @overload
    def recv(self, dir: str, shape: Sequence[int] | int, dtype: str = "f16", dst: None = None) -> TensorHandle: ...

    @overload
    def recv(self, dir: str, shape: Sequence[int] | int, dtype: str = "f16", *, dst: P) -> None: ...

    @overload
    def recv(self, dir: str, shape: Sequence[int] | int, dtype: str, dst: P) -> None: ...

    def recv(
        self, dir: str, shape: Sequence[int] | int, dtype: str = "f16", dst: P | None = None
    ) -> TensorHandle | None:
        """Receive the next tile from direction ``dir`` (blocks until it has landed), freeing its slot.

        With ``dst`` the tile is copied to ``dst`` instead (on the engine by DMA, no trip through the PE) and None
        is returned.
        """
        return self.wait(self.recv_async(dir, shape, dtype, dst))

    # -- launch geometry -------------------------------------------------------------------------------------------

    def program_id(self, axis: int) -> int:
        return self._ids[self._axis(axis)]

    def num_programs(self, axis: int) -> int:
        return self._counts[self._axis(axis)]

    @staticmethod
    def cdiv(a: int, b: int) -> int:
        """Ceiling division, as ``triton.cdiv``."""
        return -(-int(a) // int(b))

    # -- tiles -----------------------------------------------------------------------------------------------------

    def zeros(self, shape: Sequence[int], dtype: str = "f32") -> TensorHandle:
        """A tile of zeros (no hardware work: registers start cleared)."""
        return TensorHandle(self, np.zeros(tuple(shape), compute_dtype(dtype)), dtype)

    def cat(self, handles: Sequence[TensorHandle], axis: int = 0) -> TensorHandle:
        """Tiles joined along ``axis`` (they are already in registers: no hardware work); one dtype for all."""
        if not handles:
            raise ValueError("tl.cat: needs at least one tile")
        dtypes = {h.dtype for h in handles}
        if len(dtypes) != 1:
            raise ValueError(f"tl.cat: tiles of different dtypes {sorted(dtypes)}; cast them first")
        value = np.concatenate([h.value for h in handles], axis=axis)
        return TensorHandle(self, value, handles[0].dtype)

    def _encode_for_store(self, value: TensorHandle | np.ndarray, dtype: str | None) -> np.ndarray:
        """The bytes ``tl.store`` writes: ``value`` as a tile, cast to ``dtype`` (a MATH pass) if that differs."""
        handle = value if isinstance(value, TensorHandle) else TensorHandle(self, np.asarray(value), dtype or "f32")
        if dtype is not None and dtype != handle.dtype:
            handle = handle.to(dtype)
        return encode(handle.value, handle.dtype)

    # -- compute ---------------------------------------------------------------------------------------------------

    def dot(
        self, a: TensorHandle, b: TensorHandle, acc: TensorHandle | None = None, out_dtype: str | None = None
    ) -> TensorHandle:
        """``a @ b`` (+ ``acc``) on PE_GEMM with float32 accumulation."""
        if a.value.ndim != 2 or b.value.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"tl.dot: shapes {a.shape} and {b.shape} do not multiply (need (M, K) @ (K, N))")
        m, k = a.shape
        n = b.shape[1]
        result = np.matmul(a.value.astype(np.float32), b.value.astype(np.float32))
        if acc is not None:
            if acc.shape != (m, n):
                raise ValueError(f"tl.dot: acc has shape {acc.shape}, the product is {(m, n)}")
            result = result + acc.value.astype(np.float32)
        self._charge_gemm(2 * m * n * k)
        dtype = out_dtype or (acc.dtype if acc is not None else a.dtype)
        return TensorHandle(self, cast(result, dtype), dtype)

    def add(self, a: Any, b: Any) -> TensorHandle:
        return self._elementwise("add", np.add, [a, b])

    def sub(self, a: Any, b: Any) -> TensorHandle:
        return self._elementwise("sub", np.subtract, [a, b])

    def mul(self, a: Any, b: Any) -> TensorHandle:
        return self._elementwise("mul", np.multiply, [a, b])

    def div(self, a: Any, b: Any) -> TensorHandle:
        return self._elementwise("div", np.divide, [a, b])

    def maximum(self, a: Any, b: Any) -> TensorHandle:
        return self._elementwise("maximum", np.maximum, [a, b])

    def minimum(self, a: Any, b: Any) -> TensorHandle:
        return self._elementwise("minimum", np.minimum, [a, b])

    def exp(self, x: TensorHandle) -> TensorHandle:
        return self._elementwise("exp", np.exp, [x])

    def log(self, x: TensorHandle) -> TensorHandle:
        return self._elementwise("log", np.log, [x])

    def sqrt(self, x: TensorHandle) -> TensorHandle:
        return self._elementwise("sqrt", np.sqrt, [x])

    def abs(self, x: TensorHandle) -> TensorHandle:
        return self._elementwise("abs", np.abs, [x])

    def sigmoid(self, x: TensorHandle) -> TensorHandle:
        return self._elementwise("sigmoid", lambda v: 1.0 / (1.0 + np.exp(-v)), [x])

    def fma(self, a: Any, b: Any, c: Any) -> TensorHandle:
        """``a * b + c`` in one pass."""
        return self._elementwise("fma", lambda x, y, z: x * y + z, [a, b, c])

    def clamp(self, x: TensorHandle, lo: Any, hi: Any) -> TensorHandle:
        return self._elementwise("clamp", lambda v, a, b: np.minimum(np.maximum(v, a), b), [x, lo, hi])

    def softmax(self, x: TensorHandle, axis: int = -1) -> TensorHandle:
        """Numerically stable softmax along ``axis``."""

        def fn(v: np.ndarray) -> np.ndarray:
            e = np.exp(v - v.max(axis=axis, keepdims=True))
            return e / e.sum(axis=axis, keepdims=True)

        return self._elementwise("softmax", fn, [x])

    def sum(self, x: TensorHandle, axis: int | None = None) -> TensorHandle:
        return self._elementwise("sum", lambda v: np.sum(v, axis=axis), [x])

    def max(self, x: TensorHandle, axis: int | None = None) -> TensorHandle:
        return self._elementwise("max", lambda v: np.max(v, axis=axis), [x])

    # -- internals ------------------------------------------------------------------------------------------------

    def _elementwise(
        self, name: str, fn: Callable[..., Any], operands: list[Any], out_dtype: str | None = None
    ) -> TensorHandle:
        handles = [op for op in operands if isinstance(op, TensorHandle)]
        if not handles:
            raise TypeError(f"tl.{name}: needs at least one TensorHandle operand")
        dtypes = {h.dtype for h in handles}
        dtype = out_dtype or (dtypes.pop() if len(dtypes) == 1 else "f32")
        work = compute_dtype(dtype) if out_dtype is None else np.dtype(np.float32)
        args = [op.value.astype(work, copy=False) if isinstance(op, TensorHandle) else op for op in operands]
        with np.errstate(all="ignore"):  # inf / nan propagate as they would on hardware
            result = np.asarray(fn(*args))
        self._charge_math(name, max(h.value.size for h in handles))
        return TensorHandle(self, cast(result, dtype), dtype)

    def _axis(self, axis: int) -> int:
        if axis not in (0, 1):
            raise ValueError(f"tl.program_id / num_programs: axis must be 0 (PE in cube) or 1 (cube), got {axis}")
        return axis


class _Once:
    """An asynchronous operation's handle, waited for exactly once (a second wait is a kernel bug)."""

    done: bool

    def claim(self) -> None:
        """Mark the operation waited for."""
        if self.done:
            raise ValueError(f"tl.wait: {self.label} was already waited for")
        self.done = True

    @property
    def label(self) -> str:
        raise NotImplementedError


@dataclass
class RecvHandle(_Once):
    """An asynchronous receive: direction, tile shape and dtype, its place in the queue, where it goes."""

    dir: str
    shape: tuple[int, ...]
    dtype: str
    queue: Any
    seq: int
    dst: Any = None  # the address a receive into memory copies to (None: the tile comes back as a handle)
    flow: Any = None  # the engine's background copy of a receive into ``dst``
    done: bool = False

    @property
    def label(self) -> str:
        return f"the receive #{self.seq} on {self.dir!r}"


@dataclass
class SendHandle(_Once):
    """An asynchronous send: direction and place in the queue; it holds a slot of the peer's ring from the start."""

    dir: str
    seq: int
    flow: Any = None  # the engine's DMA that carries the tile (None on the mock, where a send lands at once)
    done: bool = False

    @property
    def label(self) -> str:
        return f"the send #{self.seq} on {self.dir!r}"


@dataclass
class LoadHandle(_Once):
    """An asynchronous load: the tile's shape and dtype, and its bytes once they are in the PE."""

    shape: tuple[int, ...]
    dtype: str
    flow: Any = None  # the engine's DMA into the PE (None on the mock, where ``raw`` is there at once)
    raw: Any = None  # the tile's bytes, read when the DMA lands
    done: bool = False

    @property
    def label(self) -> str:
        return f"the load of {self.shape} {self.dtype}"


def as_shape(shape: Sequence[int] | int) -> tuple[int, ...]:
    """A tile shape as a tuple of ints (an int is a 1D shape)."""
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(s) for s in shape)


def cast(values: np.ndarray, dtype: str) -> np.ndarray:
    """Round ``values`` to ``dtype`` and hand them back in its compute type (what the next op works in)."""
    if values.dtype == compute_dtype(dtype) == dtype_info(dtype).storage:  # f32 math on f32 tiles (never bf16)
        return values.copy()  # values are stored exactly as they are: the memory round trip would be this copy
    return decode(encode(values, dtype), dtype, values.shape).astype(compute_dtype(dtype), copy=False)
