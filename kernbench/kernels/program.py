"""Turn a Triton-style kernel and its arguments into the PE program a `KernelLaunchMsg` runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kernbench.engine import PeContext
from kernbench.kernels.tl import TL


def make_program(
    kernel_fn: Callable[..., Any],
    args: tuple,
    kwargs: dict[str, Any],
    pe_args: Mapping[tuple[int, int], tuple] | None = None,
    rank: int | None = None,
) -> Callable[[PeContext], Any]:
    """``kernel_fn(*pe_args[(cube, pe)], *args, tl, **kwargs)`` on each PE, with that PE's own ``tl``.

    ``pe_args`` gives each PE its own leading arguments (a collective hands each PE a pointer to its own shard);
    ``rank``: what ``tl.rank`` says (a process group's rank; default the SIP).
    """
    if not callable(kernel_fn):
        raise TypeError(f"kernel must be a callable kernel(ptr, ..., tl), got {kernel_fn!r}")

    def program(ctx: PeContext) -> Any:
        own = pe_args[(ctx.cube, ctx.pe)] if pe_args is not None else ()
        return kernel_fn(*own, *args, TL(ctx, rank), **kwargs)

    return program
