"""A tiled GEMM kernel for one PE: ``C = A @ B`` with A (M, K), B (K, N), C (M, N), all row-major.

Tiles are cut so that an A block, a B block and the f32 accumulator fit the PE's TCM staging area together;
A blocks are strided loads (one descriptor per row), B blocks contiguous rows. Accumulates in f32 and stores C in
``dtype``. Used by the tensor-parallel layers and benches.
"""

from __future__ import annotations

from kernbench.kernels.dtypes import itemsize
from kernbench.kernels.tl import TL

TILE_BUDGET = 1 << 20
"""Bytes of staging one step's A block + B block + accumulator may use (half the staging area: loads wrap)."""


def gemm_kernel(
    a_ptr: int,
    b_ptr: int,
    c_ptr: int,
    m: int,
    k: int,
    n: int,
    tl: TL,
    dtype: str = "f16",
    lda: int | None = None,
    bias_ptr: int | None = None,
) -> None:
    """``C = A @ B (+ bias)`` on this PE, tiled over M and K.

    ``lda``: elements from one row of A to the next (default ``k``), to multiply a column slice of a wider matrix;
    ``bias_ptr``: ``n`` values added to every row of C (with the f32 accumulator, before rounding to ``dtype``).
    """
    size = itemsize(dtype)
    lda = k if lda is None else lda
    bias = None if bias_ptr is None else tl.load(bias_ptr, (1, n), dtype)
    m_block = max(1, min(m, TILE_BUDGET // (2 * (n * 4 + k * size))))
    k_block = max(1, min(k, (TILE_BUDGET - m_block * n * 4) // ((m_block + n) * size)))
    for m0 in range(0, m, m_block):
        rows = min(m_block, m - m0)
        acc = tl.zeros((rows, n), "f32")
        for k0 in range(0, k, k_block):
            cols = min(k_block, k - k0)
            a = tl.load(a_ptr + (m0 * lda + k0) * size, (rows, cols), dtype, row_stride=lda * size)
            b = tl.load(b_ptr + k0 * n * size, (cols, n), dtype)
            acc = tl.dot(a, b, acc=acc, out_dtype="f32")
        if bias is not None:
            acc = acc + bias
        tl.store(c_ptr + m0 * n * size, acc, dtype)
