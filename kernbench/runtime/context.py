"""The ``torch`` object benches and host code use: tensors, kernel launches and device selection.

One `RuntimeContext` per process wraps the `Engine`; host code runs in host workers, each bound to one SIP
(rank = SIP), and every call acts on the calling worker's SIP: its allocators, its page tables, its requests.
``torch.ahbm.set_device(r)`` / ``torch.accelerator.set_device_index(r)`` state which SIP the code means to use and
raise if that SIP is not the worker's own, rather than silently placing data elsewhere.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from kernbench.ccl import CclConfig, load_ccl_config
from kernbench.engine import (
    Completion,
    Engine,
    Handle,
    KernelLaunchMsg,
    MemoryReadMsg,
    MemoryWriteMsg,
    MmuMapMsg,
    MmuUnmapMsg,
    Request,
)
from kernbench.kernels import itemsize, make_program, numpy_dtype_name
from kernbench.runtime.allocator import DeviceAllocators
from kernbench.runtime.deploy import Deployment, deploy, release
from kernbench.runtime.distributed import Distributed
from kernbench.runtime.multiprocessing import Multiprocessing
from kernbench.runtime.phase_log import PhaseLog
from kernbench.runtime.placement import DPPolicy, as_2d, resolve_dp_layout
from kernbench.runtime.tensor import Tensor

if TYPE_CHECKING:
    from kernbench.runtime.jobs import Jobs

SINGLE_PE = DPPolicy(cube="replicate", pe="replicate", num_cubes=1, num_pes=1)
"""Placement when none is given: one copy on PE 0 of cube 0."""


class AhbmNamespace:
    """``torch.ahbm``: the device (SIP) of the calling host worker."""

    def __init__(self, ctx: RuntimeContext) -> None:
        self._ctx = ctx

    def set_device(self, device: int) -> None:
        own = self._ctx.current_device()
        if int(device) != own:
            raise RuntimeError(
                f"set_device({device}): this host worker runs on sip{own}; with rank = SIP a worker uses its own "
                "SIP only (spawn one per SIP with torch.multiprocessing.spawn)"
            )

    def current_device(self) -> int:
        return self._ctx.current_device()

    def device_count(self) -> int:
        return self._ctx.topo.sip_count


class AcceleratorNamespace:
    """``torch.accelerator``: the device-agnostic names for the same thing (PyTorch 2.x)."""

    def __init__(self, ahbm: AhbmNamespace) -> None:
        self._ahbm = ahbm

    def set_device_index(self, device: int) -> None:
        self._ahbm.set_device(device)

    def current_device_index(self) -> int:
        return self._ahbm.current_device()

    def device_count(self) -> int:
        return self._ahbm.device_count()


class RuntimeContext:
    """Tensors and launches over ``engine``; use it as a context manager to free every tensor at the end.

    A tensor holds its device memory until ``free()`` or the end of the ``with`` block (dropping the Python object
    does not give simulated memory back: freeing is a simulated operation, it needs host code to run it).
    """

    def __init__(
        self,
        engine: Engine,
        ccl: CclConfig | None = None,
        *,
        job: Sequence[int] | None = None,
        jobs: Jobs | None = None,
    ) -> None:
        """``job``: the SIPs of a job that has them for its world (rank r on SIP ``job[r]``, a what-if scenario's
        job); ``jobs``: the `Jobs` that runs it at once with others on ``engine``. Default: every SIP, rank = SIP."""
        self.engine = engine
        self.topo = engine.topo
        self.ccl = ccl if ccl is not None else load_ccl_config()
        self.job = None if job is None else tuple(job)
        self.jobs = jobs
        local = [s for s in (self.job or range(self.topo.sip_count)) if engine.is_local(s)]
        self.allocators = DeviceAllocators(self.topo, local)
        self.ahbm = AhbmNamespace(self)
        self.accelerator = AcceleratorNamespace(self.ahbm)
        self.distributed = Distributed(self)
        self.multiprocessing = Multiprocessing(self)
        self.traces: dict[int, PhaseLog] = {sip: PhaseLog() for sip in local}  # per SIP, bounded
        self._tensors: dict[int, Tensor] = {}  # alive until free() or cleanup(): simulated memory is not GC'd
        self._names = itertools.count(1)

    def __enter__(self) -> RuntimeContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- devices ---------------------------------------------------------------------------------------------------

    def current_device(self) -> int:
        """The SIP of the calling host worker."""
        return self.engine.sim.current_lp().state.sip

    # -- tensors ---------------------------------------------------------------------------------------------------

    def zeros(
        self,
        shape: Sequence[int],
        dtype: str = "f16",
        *,
        dp: DPPolicy | None = None,
        memory: str = "hbm",
        name: str | None = None,
    ) -> Tensor:
        """A tensor of zeros on the current device, placed by ``dp`` (default: PE 0 of cube 0)."""
        return self._create(shape, dtype, dp, memory, name, zero=True)

    def empty(
        self,
        shape: Sequence[int],
        dtype: str = "f16",
        *,
        dp: DPPolicy | None = None,
        memory: str = "hbm",
        name: str | None = None,
    ) -> Tensor:
        """An uninitialised tensor (its memory holds whatever was there)."""
        return self._create(shape, dtype, dp, memory, name, zero=False)

    def from_numpy(self, array: np.ndarray) -> Tensor:
        """A host tensor holding a copy of ``array``; ``device_tensor.copy_(it)`` scatters it to the shards."""
        array = np.ascontiguousarray(array)
        return Tensor(self, array.shape, numpy_dtype_name(array.dtype), "host", host=array.copy())

    def cleanup(self) -> None:
        """Free every tensor of the calling worker's SIP still alive (what leaving the ``with`` block does).

        Other SIPs' tensors belong to their own host workers, which free them.
        """
        sip = self.current_device()
        for tensor in [t for t in self._tensors.values() if t.device == sip]:
            tensor.free()

    # -- kernels ---------------------------------------------------------------------------------------------------

    def launch(
        self,
        name: str,
        kernel_fn: Callable[..., Any],
        *args: Any,
        grid: Sequence[tuple[int, int]] | None = None,
        local_dims: bool = True,
        **kwargs: Any,
    ) -> Completion:
        """Run ``kernel_fn(*args, tl, **kwargs)`` on the PEs holding its tensor arguments (or on ``grid``).

        Tensors become their virtual address; ints, floats, bools and strings pass as they are, except (the seeds'
        ``dim_map``, ``local_dims=False`` turns it off) an int equal to a global dimension that a tensor argument
        splits over cubes: it becomes the cube-local size (``K`` of a tensor column-wise over 2 cubes -> ``K /
        2``), what a kernel on one cube works on. A value that is also an unsplit dimension of some tensor, or that
        two tensors split differently, is ambiguous and passes unchanged. Waits for the kernel to finish and
        returns the launch's `Completion` (a kernel error raises `KernelError`).
        """
        if local_dims:
            dims = cube_local_dims([a for a in args if isinstance(a, Tensor)])
            if dims:
                args = tuple(_local(a, dims) for a in args)
                kwargs = {k: _local(v, dims) for k, v in kwargs.items()}
        return self.wait([self.launch_async(name, kernel_fn, args, grid, kwargs)], f"kernel:{name}")[0]

    def launch_async(
        self,
        name: str,
        kernel_fn: Callable[..., Any],
        args: tuple,
        grid: Sequence[tuple[int, int]] | None = None,
        kwargs: dict[str, Any] | None = None,
        pe_args: Mapping[tuple[int, int], tuple] | None = None,
        rank: int | None = None,
        after: Handle | None = None,
    ) -> Handle:
        """Submit a launch (see `launch`) without waiting for it; ``pe_args``: leading arguments per PE; ``rank``:
        the kernel's ``tl.rank``; ``after``: a launch of this SIP to run after (a stream)."""
        sip = self.current_device()
        values: list[int | float | str] = []
        pes: set[tuple[int, int]] = set()
        for i, arg in enumerate(args):
            if isinstance(arg, Tensor):
                if arg.is_host:
                    raise TypeError(f"launch {name!r}: argument {i} is a host tensor; copy it to the device first")
                if arg.device != sip:
                    raise ValueError(f"launch {name!r}: argument {i} ({arg.name}) is on sip{arg.device}, not sip{sip}")
                values.append(arg.va)
                pes.update((s.cube, s.pe) for s in arg.shards)
            elif isinstance(arg, bool | int | float | str | np.integer | np.floating):
                values.append(arg.item() if isinstance(arg, np.generic) else arg)
            else:
                raise TypeError(f"launch {name!r}: argument {i} has unsupported type {type(arg).__name__}")
        chosen = tuple(sorted(pes)) if grid is None else tuple((int(c), int(p)) for c, p in grid)
        program = make_program(kernel_fn, tuple(values), kwargs or {}, pe_args, rank)
        return self.engine.submit(KernelLaunchMsg(sip, name, program, chosen or ((0, 0),), after))

    # -- device I/O: what Tensor, Distributed and benches that talk to the engine directly use -----------------

    def run_requests(self, msgs: Sequence[Request], phase: str) -> list[Completion]:
        """Submit ``msgs`` at once (they run concurrently), wait for all, and trace them under ``phase``."""
        return self.wait([self.engine.submit(m) for m in msgs], phase)

    def wait(self, handles: list[Handle], phase: str) -> list[Completion]:
        """Wait for ``handles`` and trace their completions under ``phase``."""
        done = [self.engine.wait(h) for h in handles]
        trace = self.traces[self.current_device()]
        for c in done:
            trace.add(phase, c.start_ns, c.end_ns, c.latency_ns, c.nbytes, c.detail)
        recorder = self.engine.sim.current_lp().state.recorder
        if recorder is not None and recorder.wants(phase):
            recorder.phase(phase, [(c.request, c.start_ns, c.end_ns, c.nbytes) for c in done])
        return done

    def _create(
        self, shape: Sequence[int], dtype: str, dp: DPPolicy | None, memory: str, name: str | None, *, zero: bool
    ) -> Tensor:
        sip = self.current_device()
        shape = tuple(int(s) for s in shape)
        dp = SINGLE_PE if dp is None else dp
        layout = resolve_dp_layout(
            dp,
            shape=as_2d(shape),
            itemsize=itemsize(dtype),
            num_pe=self.topo.pes_per_cube,
            num_cubes=self.topo.cubes_per_sip,
            target_sip=sip,
        )
        dep = deploy(self.allocators, layout, memory, self.topo.pe.pe_mmu.page_bytes)
        tensor = Tensor(self, shape, dtype, name or f"t{next(self._names)}", dp=dp, layout=layout, deployment=dep)
        self.run_requests(
            [MmuMapMsg(sip, va, pa, n, cubes=(cube,), subpage=sub) for cube, va, pa, n, sub in dep.mappings], "mmu_map"
        )
        if zero:
            self.run_requests(
                [MemoryWriteMsg(pa, nbytes=sb.spec.nbytes, fill=0) for pa, sb in zip(dep.addrs, layout, strict=True)],
                "memory_write",
            )
        self._tensors[id(tensor)] = tensor
        return tensor

    def write_shards(self, tensor: Tensor, raws: list[np.ndarray], phase: str, only: list[int] | None = None) -> None:
        addrs = tensor.shard_addrs
        picked = range(len(addrs)) if only is None else only
        self.run_requests([MemoryWriteMsg(addrs[i], data=raw) for i, raw in zip(picked, raws, strict=True)], phase)

    def read_shards(self, tensor: Tensor, phase: str, only: list[int] | None = None) -> list[np.ndarray]:
        addrs, specs = tensor.shard_addrs, tensor.shards
        picked = range(len(addrs)) if only is None else only
        done = self.run_requests([MemoryReadMsg(addrs[i], specs[i].nbytes) for i in picked], phase)
        return [c.read_data for c in done]

    def free_tensor(self, tensor: Tensor, dep: Deployment) -> None:
        """Unmap ``tensor``'s deployment ``dep`` and give its PA and VA back (`Tensor.free`)."""
        self.run_requests(
            [MmuUnmapMsg(dep.sip, va, n, cubes=(cube,), subpage=sub) for cube, va, _, n, sub in dep.mappings],
            "mmu_unmap",
        )
        release(self.allocators, dep)
        self._tensors.pop(id(tensor), None)


def cube_local_dims(tensors: Sequence[Tensor]) -> dict[int, int]:
    """Global dimension -> cube-local size, for the dimensions device ``tensors`` split over cubes (seed 001
    ``launch``'s ``dim_map``); sizes that are ambiguous (also unsplit somewhere, or split two ways) are left out."""
    split: dict[int, set[int]] = {}
    whole: set[int] = set()
    for t in tensors:
        if t.is_host or t.freed:
            continue
        blocks = [sb.block for sb in t._layout if sb.spec.cube == t._layout[0].spec.cube]
        local = (
            max(b.row1 for b in blocks) - min(b.row0 for b in blocks),
            max(b.col1 for b in blocks) - min(b.col0 for b in blocks),
        )
        for g, n in zip(as_2d(t.shape), local, strict=True):
            if g == n:
                whole.add(g)
            else:
                split.setdefault(g, set()).add(n)
    return {g: next(iter(ns)) for g, ns in split.items() if len(ns) == 1 and g not in whole}


def _local(value: Any, dims: dict[int, int]) -> Any:
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and int(value) in dims:
        return dims[int(value)]
    return value
