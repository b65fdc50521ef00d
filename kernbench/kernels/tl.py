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
- ``send`` / ``recv`` and their ``_async`` forms (waited with ``wait``): IPCQ (`kernbench.engine.ipcq`); an
  asynchronous send holds a slot of the peer's ring while its DMA runs, so several can be in flight.

``program_id(0)`` is the PE's position among the launch's PEs of its cube, ``program_id(1)`` its cube's
position among the launch's cubes; ``num_programs`` counts them. Geometry and math live in `TLBase` (shared with
the mock runtime); this class adds what reaches hardware and charges the math hooks to the PE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from kernbench.engine import PeContext
from kernbench.kernels.dtypes import decode, dtype_info, encode
from kernbench.kernels.handle import FLOPS_PER_ELEMENT, TensorHandle
from kernbench.kernels.tl_base import LoadHandle, RecvHandle, SendHandle, TLBase, as_shape
from kernbench.topology import PhysAddr, UnitKind
from kernbench.topology.reserved import TCM_TOP_AREA
from pdes.clock import wake_at

Pointer = int | PhysAddr


class TL(TLBase[Pointer]):
    """The ``tl`` object of one PE in one launch."""

    def __init__(self, ctx: PeContext, rank: int | None = None) -> None:
        pes = sorted({pe for _, pe in ctx.launch_pes})
        cubes = sorted({cube for cube, _ in ctx.launch_pes})
        super().__init__((pes.index(ctx.pe), cubes.index(ctx.cube)), (len(pes), len(cubes)))
        self.ctx = ctx
        self._rank = ctx.sip if rank is None else rank
        pe_cfg = ctx.topo.pe
        self._stage_base = PhysAddr.tcm(ctx.sip, ctx.cube, ctx.pe, pe_cfg.tcm_user_bytes)
        self._stage_size = pe_cfg.pe_tcm.size_bytes - pe_cfg.tcm_user_bytes - TCM_TOP_AREA
        self._stage_next = 0
        self._in_flight: list[tuple[int, int, Any]] = []  # staged bytes a DMA still uses: (start, end, its flow)

    def _charge_math(self, name: str, elements: int) -> None:
        self.ctx.issue()
        self.ctx.compute("math", elements * FLOPS_PER_ELEMENT[name])

    def _charge_gemm(self, flops: int) -> None:
        self.ctx.issue()
        self.ctx.compute("gemm", flops)

    # -- memory ----------------------------------------------------------------------------------------------------

    def load_async(
        self, ptr: Pointer, shape: Sequence[int] | int, dtype: str = "f16", row_stride: int | None = None
    ) -> LoadHandle:
        """Start reading a tile as `load` does; the PE goes on while its DMA runs, and `wait` gives the tile (so
        a kernel can fetch the next tile while it works on this one)."""
        self.ctx.issue()
        return self._read_async(ptr, shape, dtype, "load", row_stride)

    def _read(self, ptr: Pointer, shape: Sequence[int] | int, dtype: str, what: str) -> TensorHandle:
        return self._collect(self._read_async(ptr, shape, dtype, what))

    def _read_async(
        self, ptr: Pointer, shape: Sequence[int] | int, dtype: str, what: str, row_stride: int | None = None
    ) -> LoadHandle:
        shape = as_shape(shape)
        nbytes = math.prod(shape) * dtype_info(dtype).itemsize
        stage = self._stage(nbytes, what)
        if row_stride is None or len(shape) != 2 or row_stride == shape[1] * dtype_info(dtype).itemsize:
            runs = self._runs(ptr, nbytes)
        else:
            if isinstance(ptr, PhysAddr):
                raise TypeError(f"tl.{what}: row_stride needs a virtual address pointer")
            row = shape[1] * dtype_info(dtype).itemsize
            runs = [run for i in range(shape[0]) for run in self._runs(int(ptr) + i * int(row_stride), row)]
        flow = self._copy_start(runs, stage, to_stage=True)
        handle = LoadHandle(shape, dtype, flow)

        def landed(_event: Any) -> None:
            handle.raw = self.ctx.model.memory(stage).read(stage.offset, nbytes)

        flow.callbacks.append(landed)
        self._busy_stage(stage, nbytes, flow)
        return handle

    def _collect(self, handle: LoadHandle) -> TensorHandle:
        self.ctx.wait(handle.flow)
        return TensorHandle(self, decode(handle.raw, handle.dtype, handle.shape, copy=False), handle.dtype)

    def store(self, ptr: Pointer, value: TensorHandle | np.ndarray, dtype: str | None = None) -> None:
        """Write a tile to ``ptr`` (cast to ``dtype`` if given, else stored in its own dtype)."""
        raw = self._encode_for_store(value, dtype)
        self.ctx.issue()
        stage = self._stage(raw.size, "store")
        self.ctx.model.memory(stage).write(stage.offset, raw)
        self._copy(self._runs(ptr, raw.size), stage, to_stage=False)

    # -- IPCQ ------------------------------------------------------------------------------------------------------

    @property
    def rank(self) -> int:
        """This PE's collective rank: its SIP (rank = SIP), or its rank in the process group it runs for."""
        return self._rank

    def send_async(self, dir: str, src: TensorHandle) -> SendHandle:
        """Start sending a tile to the neighbour of direction ``dir``; `wait` waits until it has left.

        Blocks only while the peer's ring is full (no credit), so sends in flight never overrun it; then the PE's
        DMA carries the tile while the PE goes on. Sends on one direction land in the order they are started.
        """
        raw = encode(src.value, src.dtype)
        self.ctx.issue()
        stage = self._stage(raw.size, "send")
        self.ctx.model.memory(stage).write(stage.offset, raw)
        seq, flow = self.ctx.ipcq_send_async(dir, stage, raw.size)
        self._busy_stage(stage, raw.size, flow)
        return SendHandle(dir, seq, flow)

    def recv_async(
        self, dir: str, shape: Sequence[int] | int, dtype: str = "f16", dst: Pointer | None = None
    ) -> RecvHandle:
        """Claim the next tile from ``dir`` without waiting; `wait` gives it. Receives on one direction are
        matched in the order they are claimed. With ``dst`` the copy to ``dst`` starts as soon as the tile lands,
        while the PE goes on."""
        self.ctx.issue()
        queue, seq = self.ctx.ipcq_take(dir)
        shape = as_shape(shape)
        nbytes = math.prod(shape) * dtype_info(dtype).itemsize
        if nbytes > queue.spec.slot_size:
            raise ValueError(f"tl.recv of {nbytes} bytes on {dir!r}: a slot holds {queue.spec.slot_size} bytes")
        if dst is None:
            return RecvHandle(dir, shape, dtype, queue, seq)
        flow = self.ctx.ipcq_recv_into(queue, seq, self._runs(dst, nbytes))
        return RecvHandle(dir, shape, dtype, queue, seq, dst, flow)

    def wait_until(self, ns: float) -> None:
        if ns > self.ctx.now:
            self.ctx.wait(wake_at(self.ctx.env, ns))

    def wait(self, handle: RecvHandle | SendHandle | LoadHandle) -> TensorHandle | None:
        """The tile of an asynchronous load or receive (None for a receive into ``dst``, once it is there); for a
        send, None once its last byte has left."""
        handle.claim()
        if isinstance(handle, LoadHandle):
            return self._collect(handle)
        if isinstance(handle, SendHandle) or handle.flow is not None:
            self.ctx.wait(handle.flow)
            return None
        slot = self.ctx.ipcq_wait(handle.queue, handle.seq)
        value = self._read(slot, handle.shape, handle.dtype, "recv")
        self.ctx.ipcq_release(handle.queue, handle.seq)
        return value

    # -- internals ------------------------------------------------------------------------------------------------

    def _stage(self, nbytes: int, what: str) -> PhysAddr:
        """Room for ``nbytes`` in the staging ring; bytes that a load or send in flight still uses are reused only
        once its DMA is done (`_busy_stage`)."""
        if nbytes > self._stage_size:
            raise ValueError(
                f"tl.{what} of {nbytes} bytes does not fit the PE's {self._stage_size}-byte TCM staging area; "
                "tile it into smaller blocks"
            )
        if self._stage_next + nbytes > self._stage_size:
            self._stage_next = 0
        start = self._stage_next
        self._stage_next += (nbytes + 63) // 64 * 64
        for lo, hi, flow in self._in_flight:
            if lo < start + nbytes and start < hi and not flow.processed:
                self.ctx.wait(flow)
        self._in_flight = [entry for entry in self._in_flight if not entry[2].processed]
        return self._stage_base.offset_by(start)

    def _busy_stage(self, stage: PhysAddr, nbytes: int, flow: Any) -> None:
        """``nbytes`` at ``stage`` stay in use until ``flow`` (the DMA that reads or fills them) is done."""
        start = stage.offset - self._stage_base.offset
        self._in_flight.append((start, start + nbytes, flow))

    def _runs(self, ptr: Pointer, nbytes: int) -> list[tuple[PhysAddr, int]]:
        if isinstance(ptr, PhysAddr):
            return [(ptr, nbytes)]
        if isinstance(ptr, bool) or not isinstance(ptr, int | np.integer):
            raise TypeError(f"pointer must be a virtual address (int) or a PhysAddr, got {ptr!r}")
        return self.ctx.translate(int(ptr), nbytes)

    def _copy(self, runs: list[tuple[PhysAddr, int]], stage: PhysAddr, *, to_stage: bool) -> None:
        """Move each run between its memory and the staging area, and wait until they are there."""
        self.ctx.wait(self._copy_start(runs, stage, to_stage=to_stage))

    def _copy_start(self, runs: list[tuple[PhysAddr, int]], stage: PhysAddr, *, to_stage: bool) -> Any:
        """Move each run between its memory and the staging area: runs in the PE's own TCM now, the others by DMA
        in parallel, as descriptors go; the DMA's flow."""
        ctx, pos, pending = self.ctx, 0, []
        for addr, n in runs:
            here = stage.offset_by(pos)
            if addr.unit is UnitKind.PE_TCM and (addr.sip, addr.cube, addr.pe) == (ctx.sip, ctx.cube, ctx.pe):
                src, dst = (addr, here) if to_stage else (here, addr)
                ctx.model.memory(dst).write(dst.offset, ctx.model.memory(src).read(src.offset, n))
                tcm = ctx.topo.pe.pe_tcm
                ctx.spend("dma", tcm.access_ns + n / tcm.bandwidth_gbs)  # its own TCM: no DMA needed
            else:
                pending.append((addr, here, n) if to_stage else (here, addr, n))
            pos += n
        return ctx.dma_start(pending)
