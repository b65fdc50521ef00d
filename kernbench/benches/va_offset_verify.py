"""Each PE writes a pattern at VA + its shard offset; check the bytes land in that PE's HBM share and columns/rows.

Two i32 tensors on 2 cubes x 8 PEs of one SIP: ``cols`` split by columns (cube-level, then PE-level) and
``rows`` split by rows. One kernel per tensor runs on the 16 PEs; each PE computes its own shard index
``s = cube * 8 + pe`` from ``tl.program_id`` and stores ``pattern(s)`` at ``VA + s * shard_bytes`` (the
shard-major layout of `kernbench.runtime.placement`). The host then checks, without going through the VA:

- every shard's physical address is in its own cube's HBM, inside its PE's share ``[pe*share, (pe+1)*share)``
  (`kernbench.runtime.allocator`), and reading those physical bytes gives that PE's pattern;
- ``tensor.numpy()`` shows each pattern in the right columns (or rows) of the global array.

``pattern(s)[i] = (s + 1) * 1_000_000 + i`` for the i-th element of the shard in C order, so a misplaced shard,
a transposed block or a shifted offset all show up as wrong values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernbench.engine import MemoryReadMsg
from kernbench.runtime import DPPolicy
from kernbench.topology import UnitKind

CUBES = 2
COLS_SHAPE = (64, 2048)  # 16 column shards of 64 x 128 i32 = 32 KiB each
ROWS_SHAPE = (256, 512)  # 16 row shards of 16 x 512 i32 = 32 KiB each
I32 = 4
TAG = 1_000_000


def pattern(shard: int, shape: tuple[int, int]) -> np.ndarray:
    """The values shard ``shard`` holds: its number in the millions, its element index below."""
    return ((shard + 1) * TAG + np.arange(shape[0] * shape[1], dtype=np.int32)).reshape(shape)


def write_pattern_kernel(t_ptr: int, rows: int, cols: int, tl: Any) -> None:
    """One PE: find its shard from the launch geometry and store its pattern at the shard's VA offset."""
    pes = tl.num_programs(0)
    shard = tl.program_id(1) * pes + tl.program_id(0)
    tl.store(t_ptr + shard * rows * cols * I32, pattern(shard, (rows, cols)), dtype="i32")


def _verify(torch: Any, tensor: Any, block: tuple[int, int], expected: np.ndarray) -> dict[str, bool]:
    """Physical placement and bytes of every shard, then the assembled view."""
    topo = torch.topo
    share = topo.cube.hbm_ctrl.capacity_bytes // topo.pes_per_cube // 4096 * 4096
    sip = torch.current_device()
    in_share, bytes_ok = True, True
    for shard, (spec, addr) in enumerate(zip(tensor.shards, tensor.shard_addrs, strict=True)):
        pe_range = range(spec.pe * share, (spec.pe + 1) * share)
        in_share &= (
            addr.unit is UnitKind.HBM
            and (addr.sip, addr.cube) == (sip, spec.cube)
            and addr.offset in pe_range
            and addr.offset + spec.nbytes - 1 in pe_range
        )
        raw = torch.engine.wait(torch.engine.submit(MemoryReadMsg(addr, spec.nbytes))).data
        bytes_ok &= np.array_equal(np.frombuffer(raw.tobytes(), "<i4").reshape(block), pattern(shard, block))
    return {
        "in_pe_hbm_share": bool(in_share),
        "shard_bytes_match": bool(bytes_ok),
        "numpy_matches": bool(np.array_equal(tensor.numpy(), expected)),
    }


def run(torch: Any) -> dict[str, Any]:
    pes = torch.topo.pes_per_cube
    shards = CUBES * pes
    checks: dict[str, bool] = {}

    cols = torch.zeros(
        COLS_SHAPE, "i32", dp=DPPolicy(cube="column_wise", pe="column_wise", num_cubes=CUBES), name="cols"
    )
    block = (COLS_SHAPE[0], COLS_SHAPE[1] // shards)
    done_cols = torch.launch("pattern_cols", write_pattern_kernel, cols, *block)
    expected = np.hstack([pattern(s, block) for s in range(shards)])  # shard s holds columns [s*w, (s+1)*w)
    checks |= {f"cols_{name}": ok for name, ok in _verify(torch, cols, block, expected).items()}

    rows = torch.zeros(ROWS_SHAPE, "i32", dp=DPPolicy(cube="row_wise", pe="row_wise", num_cubes=CUBES), name="rows")
    block = (ROWS_SHAPE[0] // shards, ROWS_SHAPE[1])
    done_rows = torch.launch("pattern_rows", write_pattern_kernel, rows, *block)
    expected = np.vstack([pattern(s, block) for s in range(shards)])  # shard s holds rows [s*h, (s+1)*h)
    checks |= {f"rows_{name}": ok for name, ok in _verify(torch, rows, block, expected).items()}

    checks["every_pe_ran"] = done_cols.detail["pes"] == done_rows.detail["pes"] == shards
    return {
        "checks": checks,
        "shards": shards,
        "cols_shape": list(COLS_SHAPE),
        "rows_shape": list(ROWS_SHAPE),
        "hbm_share_bytes": torch.topo.cube.hbm_ctrl.capacity_bytes // pes // 4096 * 4096,
    }
