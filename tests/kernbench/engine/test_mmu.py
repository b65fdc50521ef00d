"""The page table stores runs of pages but behaves page by page."""

import pytest

from kernbench.engine import PageTable, TranslationError
from kernbench.topology import PhysAddr

VA, PAGE = 0x1_0000_0000, 4096


def test_partial_unmaps_split_runs_and_keep_the_rest(topo):
    table = PageTable(topo, 0)
    table.map(VA, PhysAddr.hbm(0, 3, 0), 10 * PAGE)
    table.map(VA + 10 * PAGE, PhysAddr.sram(0, 1, 0), 2 * PAGE)
    assert len(table) == 12
    table.unmap(VA + 2 * PAGE, 3 * PAGE)  # a hole in the middle of the first run
    assert len(table) == 9
    assert table.translate(VA + PAGE + 7) == PhysAddr.hbm(0, 3, PAGE + 7)
    assert table.translate(VA + 5 * PAGE + 9) == PhysAddr.hbm(0, 3, 5 * PAGE + 9)
    assert table.translate(VA + 11 * PAGE) == PhysAddr.sram(0, 1, PAGE)
    for page in (2, 3, 4, 12):
        with pytest.raises(TranslationError, match="is not mapped"):
            table.translate(VA + page * PAGE)
    with pytest.raises(TranslationError, match=f"{VA + 2 * PAGE:#x} is not mapped"):
        table.unmap(VA, 5 * PAGE)  # pages 0..1 mapped, 2 is not: nothing changes
    assert len(table) == 9
    with pytest.raises(TranslationError, match=f"{VA + 5 * PAGE:#x} is already mapped"):
        table.map(VA + 4 * PAGE, PhysAddr.hbm(0, 0, 0), 6 * PAGE)
    table.map(VA + 2 * PAGE, PhysAddr.hbm(0, 0, 0), 3 * PAGE)  # refill the hole exactly
    assert len(table) == 12
    assert table.translate(VA + 4 * PAGE) == PhysAddr.hbm(0, 0, 2 * PAGE)
