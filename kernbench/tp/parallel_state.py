"""Tensor-parallel group state (Megatron-style names), per rank: one TP group spanning every rank.

A rank is a SIP, so the state lives per SIP of the runtime that ran ``torch.distributed.init_process_group``;
functions find that runtime from the calling host worker, as Megatron's do from the process.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernbench.runtime import RuntimeContext

_ACTIVE: list[weakref.ref] = []
_TP_SIZE: dict[tuple[int, int], int] = {}  # (id of the runtime, sip) -> TP size


def _runtime(torch: RuntimeContext | None) -> RuntimeContext:
    if torch is not None:
        return torch
    ctx = _ACTIVE[0]() if _ACTIVE else None
    if ctx is None:
        raise RuntimeError("tensor parallelism: call torch.distributed.init_process_group() first")
    return ctx


def initialize_model_parallel(tensor_model_parallel_size: int, torch: RuntimeContext | None = None) -> None:
    """Make every rank one TP group of ``tensor_model_parallel_size`` (which must be the world size)."""
    ctx = _runtime(torch)
    world = ctx.distributed.get_world_size()
    if tensor_model_parallel_size != world:
        raise NotImplementedError(
            f"initialize_model_parallel: only tensor_model_parallel_size == world size ({world}) is supported, "
            f"got {tensor_model_parallel_size}"
        )
    _ACTIVE[:] = [weakref.ref(ctx)]
    _TP_SIZE[(id(ctx), ctx.current_device())] = tensor_model_parallel_size


def model_parallel_is_initialized(torch: RuntimeContext | None = None) -> bool:
    ctx = _ACTIVE[0]() if torch is None and _ACTIVE else torch
    return ctx is not None and (id(ctx), ctx.current_device()) in _TP_SIZE


def get_tensor_model_parallel_world_size(torch: RuntimeContext | None = None) -> int:
    ctx = _runtime(torch)
    key = (id(ctx), ctx.current_device())
    if key not in _TP_SIZE:
        raise RuntimeError(f"sip{ctx.current_device()}: call initialize_model_parallel() first")
    return _TP_SIZE[key]


def get_tensor_model_parallel_rank(torch: RuntimeContext | None = None) -> int:
    get_tensor_model_parallel_world_size(torch)
    return _runtime(torch).distributed.get_rank()


def destroy_model_parallel(torch: RuntimeContext | None = None) -> None:
    ctx = _runtime(torch)
    _TP_SIZE.pop((id(ctx), ctx.current_device()), None)
