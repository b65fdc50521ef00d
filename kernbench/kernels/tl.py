"""`tl`: the Triton-style language kernels are written in, one instance per PE of a launch.

A kernel is a plain function ``kernel(ptr, ..., tl)``; pointers are device virtual addresses (ints) that the
PE's MMU translates, or `PhysAddr` for physical access. Every call that reaches hardware becomes timed work on
the PE (`kernbench.engine.PeContext`) and moves or computes real data when that work completes:

- ``load(ptr, shape, dtype)``: the PE's DMA copies the bytes behind ``ptr`` (any memory, any SIP) into the
  TCM staging area the scheduler reserves (``scheduler.tcm_reserved_mib`` less the IPCQ rings and mailboxes at
  its top, `kernbench.engine.ipcq`), then the tile is read from there.
  A tile must fit the staging area: bigger data is tiled by the kernel.
- ``store(ptr, value)``: the tile is written to staging, then DMA'd to the memories behind ``ptr``.
- ``dot(a, b)``: PE_GEMM, ``2*M*N*K`` flops, float32 accumulation, result in ``a``'s dtype unless
  ``out_dtype`` says otherwise (so an f16 GEMM stores f16, as the tensors it writes expect).
- math (``add`` ... ``softmax``, operators on handles) and reductions (``sum``, ``max``): PE_MATH.

``program_id(0)`` is the PE's position among the launch's PEs of its cube, ``program_id(1)`` its cube's
position among the launch's cubes; ``num_programs`` counts them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kernbench.engine import PeContext
from kernbench.engine.ipcq import MAILBOX_AREA, RING_AREA
from kernbench.kernels.dtypes import decode, dtype_info, encode
from kernbench.kernels.handle import FLOPS_PER_ELEMENT, TensorHandle, compute_dtype
from kernbench.topology import PhysAddr, UnitKind

Pointer = int | PhysAddr


class TL:
    """The ``tl`` object of one PE in one launch."""

    def __init__(self, ctx: PeContext) -> None:
        self.ctx = ctx
        pes = sorted({pe for _, pe in ctx.launch_pes})
        cubes = sorted({cube for cube, _ in ctx.launch_pes})
        self._ids = (pes.index(ctx.pe), cubes.index(ctx.cube))
        self._counts = (len(pes), len(cubes))
        pe_cfg = ctx.topo.pe
        self._stage_base = pe_cfg.tcm_user_bytes
        self._stage_size = pe_cfg.pe_tcm.size_bytes - pe_cfg.tcm_user_bytes - MAILBOX_AREA - RING_AREA
        self._stage_next = 0

    # -- launch geometry -----------------------------------------------------------------------------------------

    def program_id(self, axis: int) -> int:
        return self._ids[self._axis(axis)]

    def num_programs(self, axis: int) -> int:
        return self._counts[self._axis(axis)]

    @staticmethod
    def cdiv(a: int, b: int) -> int:
        """Ceiling division, as ``triton.cdiv``."""
        return -(-int(a) // int(b))

    # -- memory ----------------------------------------------------------------------------------------------------

    def load(self, ptr: Pointer, shape: Sequence[int] | int, dtype: str = "f16",
             row_stride: int | None = None) -> TensorHandle:
        """Read a ``shape`` tile of ``dtype`` at ``ptr`` into this PE.

        ``row_stride``: bytes from one row's start to the next in memory, for a 2D tile cut out of a wider array
        (each row is its own DMA descriptor); default: rows are contiguous.
        """
        self.ctx.issue()
        return self._read(ptr, shape, dtype, "load", row_stride)

    def _read(self, ptr: Pointer, shape: Sequence[int] | int, dtype: str, what: str,
              row_stride: int | None = None) -> TensorHandle:
        shape = (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(s) for s in shape)
        nbytes = math.prod(shape) * dtype_info(dtype).itemsize
        stage = self._stage(nbytes, what)
        if row_stride is None or len(shape) != 2 or row_stride == shape[1] * dtype_info(dtype).itemsize:
            runs = self._runs(ptr, nbytes)
        else:
            if isinstance(ptr, PhysAddr):
                raise TypeError(f"tl.{what}: row_stride needs a virtual address pointer")
            row = shape[1] * dtype_info(dtype).itemsize
            runs = [run for i in range(shape[0]) for run in self._runs(int(ptr) + i * int(row_stride), row)]
        self._copy(runs, stage, to_stage=True)
        raw = self.ctx.model.memory(stage).read(stage.offset, nbytes)
        return TensorHandle(self, decode(raw, dtype, shape), dtype)

    def store(self, ptr: Pointer, value: TensorHandle | np.ndarray, dtype: str | None = None) -> None:
        """Write a tile to ``ptr`` (cast to ``dtype`` if given, else stored in its own dtype)."""
        handle = value if isinstance(value, TensorHandle) else TensorHandle(self, np.asarray(value), dtype or "f32")
        if dtype is not None and dtype != handle.dtype:
            handle = handle.to(dtype)
        raw = encode(handle.value, handle.dtype)
        self.ctx.issue()
        stage = self._stage(raw.size, "store")
        self.ctx.model.memory(stage).write(stage.offset, raw)
        self._copy(self._runs(ptr, raw.size), stage, to_stage=False)

    # -- IPCQ ------------------------------------------------------------------------------------------------------

    def send(self, dir: str, src: TensorHandle) -> None:
        """Send a tile to the neighbour of direction ``dir``; blocks while the peer's ring is full."""
        raw = encode(src.value, src.dtype)
        self.ctx.issue()
        stage = self._stage(raw.size, "send")
        self.ctx.model.memory(stage).write(stage.offset, raw)
        self.ctx.ipcq_send(dir, stage, raw.size)

    def recv(self, dir: str, shape: Sequence[int] | int, dtype: str = "f16") -> TensorHandle:
        """Receive the next tile from direction ``dir`` (blocks until it has landed), freeing its slot."""
        self.ctx.issue()
        slot = self.ctx.ipcq_wait(dir)
        value = self._read(slot, shape, dtype, "recv")
        self.ctx.ipcq_release(dir)
        return value

    # -- compute ---------------------------------------------------------------------------------------------------

    def dot(self, a: TensorHandle, b: TensorHandle, acc: TensorHandle | None = None,
            out_dtype: str | None = None) -> TensorHandle:
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
        self.ctx.issue()
        self.ctx.compute("gemm", 2 * m * n * k)
        dtype = out_dtype or (acc.dtype if acc is not None else a.dtype)
        return TensorHandle(self, _cast(result, dtype), dtype)

    def zeros(self, shape: Sequence[int], dtype: str = "f32") -> TensorHandle:
        """A tile of zeros (no hardware work: registers start cleared)."""
        return TensorHandle(self, np.zeros(tuple(shape), compute_dtype(dtype)), dtype)

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

    def _elementwise(self, name: str, fn: Callable[..., Any], operands: list[Any],
                     out_dtype: str | None = None) -> TensorHandle:
        handles = [op for op in operands if isinstance(op, TensorHandle)]
        if not handles:
            raise TypeError(f"tl.{name}: needs at least one TensorHandle operand")
        dtypes = {h.dtype for h in handles}
        dtype = out_dtype or (dtypes.pop() if len(dtypes) == 1 else "f32")
        work = compute_dtype(dtype) if out_dtype is None else np.dtype(np.float32)
        args = [op.value.astype(work, copy=False) if isinstance(op, TensorHandle) else op for op in operands]
        with np.errstate(all="ignore"):  # inf / nan propagate as they would on hardware
            result = np.asarray(fn(*args))
        elements = max(h.value.size for h in handles)
        self.ctx.issue()
        self.ctx.compute("math", elements * FLOPS_PER_ELEMENT[name])
        return TensorHandle(self, _cast(result, dtype), dtype)

    def _axis(self, axis: int) -> int:
        if axis not in (0, 1):
            raise ValueError(f"tl.program_id / num_programs: axis must be 0 (PE in cube) or 1 (cube), got {axis}")
        return axis

    def _stage(self, nbytes: int, what: str) -> PhysAddr:
        """Room for ``nbytes`` in the staging ring (data is consumed at once, so reuse is safe)."""
        if nbytes > self._stage_size:
            raise ValueError(
                f"tl.{what} of {nbytes} bytes does not fit the PE's {self._stage_size}-byte TCM staging area; "
                "tile it into smaller blocks"
            )
        if self._stage_next + nbytes > self._stage_size:
            self._stage_next = 0
        offset = self._stage_base + self._stage_next
        self._stage_next += (nbytes + 63) // 64 * 64
        return PhysAddr.tcm(self.ctx.sip, self.ctx.cube, self.ctx.pe, offset)

    def _runs(self, ptr: Pointer, nbytes: int) -> list[tuple[PhysAddr, int]]:
        if isinstance(ptr, PhysAddr):
            return [(ptr, nbytes)]
        if isinstance(ptr, bool) or not isinstance(ptr, int | np.integer):
            raise TypeError(f"pointer must be a virtual address (int) or a PhysAddr, got {ptr!r}")
        return self.ctx.translate(int(ptr), nbytes)

    def _copy(self, runs: list[tuple[PhysAddr, int]], stage: PhysAddr, *, to_stage: bool) -> None:
        """Move each run between its memory and the staging area; runs go in parallel, as DMA descriptors do."""
        ctx, pos, pending = self.ctx, 0, []
        for addr, n in runs:
            here = PhysAddr.tcm(stage.sip, stage.cube, stage.pe, stage.offset + pos)
            if addr.unit is UnitKind.PE_TCM and (addr.sip, addr.cube, addr.pe) == (ctx.sip, ctx.cube, ctx.pe):
                src, dst = (addr, here) if to_stage else (here, addr)
                ctx.model.memory(dst).write(dst.offset, ctx.model.memory(src).read(src.offset, n))
                tcm = ctx.topo.pe.pe_tcm
                ctx.spend("dma", tcm.access_ns + n / tcm.bandwidth_gbs)  # its own TCM: no DMA needed
            else:
                pending.append((addr, here, n) if to_stage else (here, addr, n))
            pos += n
        ctx.dma_all(pending)


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    """Round ``values`` to ``dtype`` and hand them back in its compute type (what the next op works in)."""
    return decode(encode(values, dtype), dtype, values.shape).astype(compute_dtype(dtype), copy=False)
