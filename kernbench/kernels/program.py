"""Turn a Triton-style kernel and its arguments into the PE program a `KernelLaunchMsg` runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kernbench.engine import PeContext
from kernbench.kernels.tl import TL


def make_program(kernel_fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Callable[[PeContext], Any]:
    """``kernel_fn(*args, tl, **kwargs)`` on each PE, with that PE's own ``tl``."""
    if not callable(kernel_fn):
        raise TypeError(f"kernel must be a callable kernel(ptr, ..., tl), got {kernel_fn!r}")

    def program(ctx: PeContext) -> Any:
        return kernel_fn(*args, TL(ctx), **kwargs)

    return program
