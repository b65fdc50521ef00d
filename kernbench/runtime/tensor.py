"""`Tensor`: a handle on data spread over one SIP's memories, or a host array waiting to be copied in.

Every host-visible operation is a request through the engine (`MemoryWriteMsg` to deploy, `MemoryReadMsg` to
read back), so it takes simulated time and sees exactly the bytes kernels left in device memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kernbench.kernels.dtypes import decode, dtype_info, encode, itemsize
from kernbench.runtime.deploy import Deployment
from kernbench.runtime.placement import Block, DPPolicy, ShardBlock, ShardSpec, as_2d, assemble_blocks, split_blocks

if TYPE_CHECKING:
    from kernbench.runtime.context import RuntimeContext


class CrossShardIndexError(NotImplementedError, IndexError):
    """Indexing a region that spans several shards: not supported (the seeds raise NotImplementedError, "spans
    multiple shards"); also an IndexError, as it is about the index."""


class Tensor:
    """A device tensor (``deployment`` set) or a host tensor (``host`` set, from `RuntimeContext.from_numpy`)."""

    def __init__(
        self,
        ctx: RuntimeContext,
        shape: tuple[int, ...],
        dtype: str,
        name: str,
        *,
        dp: DPPolicy | None = None,
        layout: list[ShardBlock] | None = None,
        deployment: Deployment | None = None,
        host: np.ndarray | None = None,
    ) -> None:
        self._ctx = ctx
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.name = name
        self.dp = dp
        self._layout = layout or []
        self._deployment = deployment
        self._host = host

    # -- what it is ----------------------------------------------------------------------------------------------

    @property
    def is_host(self) -> bool:
        return self._host is not None

    @property
    def freed(self) -> bool:
        return not self.is_host and self._deployment is None

    @property
    def device(self) -> int | None:
        """The SIP holding the tensor (None for a host tensor)."""
        return None if self.is_host else self._live().sip

    @property
    def va(self) -> int:
        """Device virtual address of the tensor's first byte (what kernels receive as a pointer)."""
        return self._live().va

    @property
    def shards(self) -> list[ShardSpec]:
        return [sb.spec for sb in self._layout]

    @property
    def shard_addrs(self) -> list:
        """The physical address of each shard, in `shards` order."""
        return list(self._live().addrs)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * itemsize(self.dtype)

    # -- data ------------------------------------------------------------------------------------------------------

    def copy_(self, src: Tensor | np.ndarray) -> Tensor:
        """Copy ``src`` (a host tensor, a device tensor or a numpy array of the same shape) into this tensor."""
        values = src.numpy() if isinstance(src, Tensor) else np.asarray(src)
        if tuple(values.shape) != self.shape:
            raise ValueError(
                f"{self.name}.copy_ shape mismatch: source shape {tuple(values.shape)} != tensor shape {self.shape}"
            )
        if self._host is not None:
            self._host = values.astype(self._host.dtype, copy=True)
            return self
        blocks = split_blocks(values.reshape(as_2d(self.shape)), self._layout)
        self._ctx.write_shards(self, [encode(b, self.dtype) for b in blocks], "copy_")
        return self

    def numpy(self) -> np.ndarray:
        """The tensor's values (read from device memory now; bf16 comes back as float32)."""
        if self._host is not None:
            return self._host.copy()
        raws = self._ctx.read_shards(self, "numpy")
        parts = [decode(raw, self.dtype, sb.block.shape) for raw, sb in zip(raws, self._layout, strict=True)]
        return assemble_blocks(self._layout, parts, shape=as_2d(self.shape)).reshape(self.shape)

    @property
    def data(self) -> np.ndarray:
        """The tensor's values as a numpy array (the seeds' ``Tensor.data``; the same as `numpy()`)."""
        return self.numpy()

    def to(
        self,
        *args: Any,
        dtype: str | None = None,
        dp: DPPolicy | None = None,
        device: Any = None,
        dp_policy: DPPolicy | None = None,
        memory: str | None = None,
        name: str | None = None,
    ) -> Tensor:
        """A tensor like this one with another dtype, placement or device, as ``torch.Tensor.to``; self if nothing
        changes.

        Positional arguments are read by type: a dtype name (``"f32"``), a `DPPolicy` (the seeds' ``dp_policy``),
        or a device: ``"cpu"`` (a host tensor), or this worker's SIP as an int, ``"ahbm:N"``, ``"sip:N"``,
        ``"sipN"`` or ``"cuda:N"``. A device tensor can only move to its own SIP (rank = SIP: another SIP's memory
        belongs to its own worker); a host tensor moves to the worker's SIP, placed by ``dp``.
        """
        dp = dp if dp is not None else dp_policy
        for arg in args:
            if isinstance(arg, DPPolicy):
                dp = arg
            elif isinstance(arg, str) and _is_dtype(arg):
                dtype = arg
            else:
                device = arg
        target = self._ctx.current_device() if device is None and not self.is_host else device
        to_host = isinstance(target, str) and target.strip().lower() == "cpu"
        sip = None if to_host or target is None else _device_index(target)
        if sip is not None and sip != self._ctx.current_device():
            raise RuntimeError(
                f"{self.name}.to({target!r}): this host worker runs on sip{self._ctx.current_device()}"
                "; with rank = SIP a tensor moves to its own worker's SIP only"
            )
        new_dtype = dtype or self.dtype
        if to_host or (self.is_host and sip is None):
            if new_dtype == self.dtype and self.is_host:
                return self
            if new_dtype == "bf16":
                raise ValueError(f"{self.name}.to: a host tensor holds a numpy array, and numpy has no bf16")
            return self._ctx.from_numpy(self.numpy().astype(dtype_info(new_dtype).storage))
        if not self.is_host and new_dtype == self.dtype and (dp is None or dp == self.dp) and memory is None:
            return self
        out = self._ctx.empty(
            self.shape,
            new_dtype,
            dp=dp if dp is not None else self.dp,
            memory=memory or ("hbm" if self.is_host else self._memory),
            name=name,
        )
        out.copy_(self.numpy())
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        """Values of a region that lies inside one shard (a cross-shard region raises: use numpy())."""
        i, block, index = self._region(key)
        raw = self._ctx.read_shards(self, "getitem", only=[i])[0]
        return decode(raw, self.dtype, block.shape)[index]

    def __setitem__(self, key: Any, value: Any) -> None:
        """Write a region that lies inside one shard (and its replicas): scalar or array, broadcast as numpy."""
        i, block, index = self._region(key)
        same = [j for j, sb in enumerate(self._layout) if sb.block == block]
        current = decode(self._ctx.read_shards(self, "setitem", only=[i])[0], self.dtype, block.shape)
        current[index] = value
        self._ctx.write_shards(self, [encode(current, self.dtype)] * len(same), "setitem", only=same)

    def free(self) -> None:
        """Give the tensor's memory back (unmap, free PA and VA); a freed tensor can no longer be used."""
        if self._deployment is not None:
            self._ctx.free_tensor(self, self._deployment)
            self._deployment = None

    def __repr__(self) -> str:
        where = "host" if self.is_host else "freed" if self.freed else f"sip{self.device}, {len(self._layout)} shards"
        head = f"Tensor({self.name!r}, shape={self.shape}, dtype={self.dtype}, {where}"
        if self.freed:
            return head + ")"
        values = self.numpy().astype(np.float64)
        if values.size == 0:
            return head + ", empty)"
        flat = ", ".join(f"{v:.4g}" for v in values.reshape(-1)[:4])
        more = ", ..." if values.size > 4 else ""
        return (
            f"{head}, values=[{flat}{more}], min={values.min():.4g}, max={values.max():.4g}, mean={values.mean():.4g})"
        )

    # -- internals -------------------------------------------------------------------------------------------------

    @property
    def _memory(self) -> str:
        """The kind of memory the shards live in (``hbm``, ``sram`` or ``tcm``)."""
        unit = self._live().addrs[0].unit.name
        return {"SRAM": "sram", "PE_TCM": "tcm"}.get(unit, "hbm")

    def _live(self) -> Deployment:
        if self._deployment is None:
            raise RuntimeError(f"tensor {self.name!r} is {'a host tensor' if self.is_host else 'freed'}")
        return self._deployment

    def _region(self, key: Any) -> tuple[int, Block, tuple]:
        """The shard holding region ``key`` (ints and step-1 slices) and the region's index inside its block."""
        if len(self.shape) > 2:
            raise IndexError(f"{self.name}: indexing supports 1D and 2D tensors; use numpy() for {self.shape}")
        parts = key if isinstance(key, tuple) else (key,)
        if len(self.shape) == 1:
            parts = (0, *parts)
        if len(parts) > 2:
            raise IndexError(f"{self.name}[{key!r}]: too many indices for shape {self.shape}")
        parts = (*parts, *(slice(None),) * (2 - len(parts)))
        spans = []
        for part, size in zip(parts, as_2d(self.shape), strict=True):
            if isinstance(part, int | np.integer) and not isinstance(part, bool):
                if not -size <= part < size:
                    raise IndexError(f"{self.name}[{key!r}]: index {part} out of range for size {size}")
                spans.append((int(part) % size, int(part) % size + 1, True))
            elif isinstance(part, slice):
                start, stop, step = part.indices(size)
                if step != 1 or stop <= start:
                    raise IndexError(f"{self.name}[{key!r}]: only non-empty step-1 slices are supported")
                spans.append((start, stop, False))
            else:
                raise TypeError(f"{self.name}[{key!r}]: indices must be ints or slices")
        (r0, r1, r_int), (c0, c1, c_int) = spans
        for i, sb in enumerate(self._layout):
            b = sb.block
            if b.row0 <= r0 and r1 <= b.row1 and b.col0 <= c0 and c1 <= b.col1:
                rows = r0 - b.row0 if r_int else slice(r0 - b.row0, r1 - b.row0)
                cols = c0 - b.col0 if c_int else slice(c0 - b.col0, c1 - b.col0)
                return i, b, (rows, cols)
        raise CrossShardIndexError(
            f"{self.name}[{key!r}] spans multiple shards (rows {r0}..{r1 - 1}, columns {c0}..{c1 - 1}); "
            "index inside one shard, or use numpy() / copy_() for the whole tensor"
        )


def _is_dtype(name: str) -> bool:
    try:
        dtype_info(name)
    except ValueError:
        return False
    return True


def _device_index(device: Any) -> int:
    """The SIP a device names: an int, or ``ahbm:N`` / ``sip:N`` / ``sipN`` / ``cuda:N``."""
    if isinstance(device, bool):
        raise TypeError(f"Tensor.to: bad device {device!r}")
    if isinstance(device, int | np.integer):
        return int(device)
    if isinstance(device, str):
        text = device.strip().lower()
        for prefix in ("ahbm:", "sip:", "cuda:", "sip"):
            if text.startswith(prefix) and text[len(prefix) :].isdigit():
                return int(text[len(prefix) :])
    raise ValueError(f"Tensor.to: unknown device {device!r} (use 'cpu', an int, 'ahbm:N', 'sip:N' or 'sipN')")
