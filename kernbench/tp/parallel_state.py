"""Megatron's parallel state: tensor-, pipeline- and data-parallel groups with Megatron's rank layout, per rank.

``initialize_model_parallel(tp, pp)`` splits the world of ``tp x pp x dp`` ranks as Megatron does (its default
order, tensor parallelism fastest): tensor-parallel groups of ``tp`` consecutive ranks; pipeline groups of the
ranks ``world / pp`` apart (stage ``s`` holds ranks ``s * world / pp ..``); data-parallel groups of the ranks with
the same tensor-parallel rank in one stage, ``tp`` apart; model-parallel groups (one per data-parallel rank: a
model's tensor and pipeline ranks). Every rank creates every group, in that order, as ``torch.distributed``
requires. A rank is a SIP, so the state lives per SIP of the runtime that ran ``init_process_group``; functions
find that runtime from the calling host worker, as Megatron's find it from the process.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from kernbench.runtime import RuntimeContext
from kernbench.runtime.groups import ProcessGroup

_ACTIVE: list[weakref.ref] = []


@dataclass(frozen=True)
class Layout:
    """The rank layout of ``world = tp x pp x dp`` ranks, as lists of group members (global ranks)."""

    world: int
    tp: int
    pp: int

    def __post_init__(self) -> None:
        if self.tp < 1 or self.pp < 1 or self.world % (self.tp * self.pp):
            raise ValueError(
                f"initialize_model_parallel: tensor ({self.tp}) x pipeline ({self.pp}) parallel size must divide "
                f"the world size {self.world}"
            )

    @property
    def dp(self) -> int:
        return self.world // (self.tp * self.pp)

    def tensor_groups(self) -> list[list[int]]:
        return [list(range(i * self.tp, (i + 1) * self.tp)) for i in range(self.world // self.tp)]

    def pipeline_groups(self) -> list[list[int]]:
        step = self.world // self.pp
        return [list(range(i, self.world, step)) for i in range(step)]

    def data_groups(self) -> list[list[int]]:
        step = self.world // self.pp
        return [
            list(range(stage * step + j, (stage + 1) * step, self.tp))
            for stage in range(self.pp)
            for j in range(self.tp)
        ]

    def model_groups(self) -> list[list[int]]:
        data = self.data_groups()
        return [[group[i] for group in data] for i in range(self.dp)]


@dataclass
class _State:
    layout: Layout
    tensor: ProcessGroup
    pipeline: ProcessGroup
    data: ProcessGroup
    model: ProcessGroup


_STATE: dict[tuple[int, int], _State] = {}  # (id of the runtime, sip) -> its groups


def _runtime(torch: RuntimeContext | None) -> RuntimeContext:
    if torch is not None:
        return torch
    ctx = _ACTIVE[0]() if _ACTIVE else None
    if ctx is None:
        raise RuntimeError("model parallelism: call torch.distributed.init_process_group() first")
    return ctx


def initialize_model_parallel(
    tensor_model_parallel_size: int = 1,
    pipeline_model_parallel_size: int | RuntimeContext = 1,
    torch: RuntimeContext | None = None,
) -> None:
    """Create this rank's tensor-, pipeline-, data- and model-parallel groups (every rank calls it alike).

    Megatron's signature; the earlier kernbench's ``initialize_model_parallel(tp, torch)`` (the runtime second)
    means one pipeline stage."""
    stages = 1
    if isinstance(pipeline_model_parallel_size, RuntimeContext):
        torch = pipeline_model_parallel_size
    else:
        stages = pipeline_model_parallel_size
    ctx = _runtime(torch)
    dist = ctx.distributed
    layout = Layout(dist.get_world_size(), tensor_model_parallel_size, stages)
    sip = dist.get_rank()
    mine: dict[str, ProcessGroup] = {}
    for kind, groups in (
        ("tensor", layout.tensor_groups()),
        ("pipeline", layout.pipeline_groups()),
        ("data", layout.data_groups()),
        ("model", layout.model_groups()),
    ):
        for members in groups:
            group = dist.new_group(members)
            if sip in members:
                mine[kind] = group
    _ACTIVE[:] = [weakref.ref(ctx)]
    _STATE[(id(ctx), ctx.current_device())] = _State(layout, **mine)


def _state(torch: RuntimeContext | None) -> _State:
    ctx = _runtime(torch)
    state = _STATE.get((id(ctx), ctx.current_device()))
    if state is None:
        raise RuntimeError(f"sip{ctx.current_device()}: call initialize_model_parallel() first")
    return state


def model_parallel_is_initialized(torch: RuntimeContext | None = None) -> bool:
    ctx = _ACTIVE[0]() if torch is None and _ACTIVE else torch
    return ctx is not None and (id(ctx), ctx.current_device()) in _STATE


def get_tensor_model_parallel_group(torch: RuntimeContext | None = None) -> ProcessGroup:
    return _state(torch).tensor


def get_pipeline_model_parallel_group(torch: RuntimeContext | None = None) -> ProcessGroup:
    return _state(torch).pipeline


def get_data_parallel_group(torch: RuntimeContext | None = None) -> ProcessGroup:
    return _state(torch).data


def get_model_parallel_group(torch: RuntimeContext | None = None) -> ProcessGroup:
    return _state(torch).model


def get_tensor_model_parallel_world_size(torch: RuntimeContext | None = None) -> int:
    return _state(torch).layout.tp


def get_pipeline_model_parallel_world_size(torch: RuntimeContext | None = None) -> int:
    return _state(torch).layout.pp


def get_data_parallel_world_size(torch: RuntimeContext | None = None) -> int:
    return _state(torch).layout.dp


def _rank_in(group: ProcessGroup, torch: RuntimeContext | None) -> int:
    return group.rank_of(_runtime(torch).current_device())


def get_tensor_model_parallel_rank(torch: RuntimeContext | None = None) -> int:
    return _rank_in(_state(torch).tensor, torch)


def get_pipeline_model_parallel_rank(torch: RuntimeContext | None = None) -> int:
    return _rank_in(_state(torch).pipeline, torch)


def get_data_parallel_rank(torch: RuntimeContext | None = None) -> int:
    return _rank_in(_state(torch).data, torch)


def is_pipeline_first_stage(torch: RuntimeContext | None = None) -> bool:
    return get_pipeline_model_parallel_rank(torch) == 0


def is_pipeline_last_stage(torch: RuntimeContext | None = None) -> bool:
    return get_pipeline_model_parallel_rank(torch) == get_pipeline_model_parallel_world_size(torch) - 1


def get_pipeline_model_parallel_next_rank(torch: RuntimeContext | None = None) -> int:
    """The global rank of the next stage (wrapping, as Megatron's)."""
    group = _state(torch).pipeline
    return group.ranks[(_rank_in(group, torch) + 1) % group.size()]


def get_pipeline_model_parallel_prev_rank(torch: RuntimeContext | None = None) -> int:
    """The global rank of the previous stage (wrapping, as Megatron's)."""
    group = _state(torch).pipeline
    return group.ranks[(_rank_in(group, torch) - 1) % group.size()]


def destroy_model_parallel(torch: RuntimeContext | None = None) -> None:
    ctx = _runtime(torch)
    _STATE.pop((id(ctx), ctx.current_device()), None)
