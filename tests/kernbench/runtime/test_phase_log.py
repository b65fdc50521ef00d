"""A SIP's per-phase request totals stay exact and bounded however many requests a bench makes."""

import sys

import pytest

from kernbench.runtime.phase_log import RAW_INTERVALS, PhaseLog


def test_a_long_loop_of_launches_keeps_its_totals_in_bounded_memory():
    """100,000 back-to-back launches (each 10 ns, 5 ns apart): sums and span exact, interval storage capped."""
    log = PhaseLog()
    for k in range(100_000):
        log.add("launch", k * 15.0, k * 15.0 + 10.0, 10.0, 64, {"exec_ns": 8.0, "pes": 1, "busy_ns": {"gemm": 2.0}})
    (totals,) = log.totals()
    assert totals["count"] == 100_000
    assert totals["nbytes"] == 6_400_000
    assert totals["latency_ns"] == pytest.approx(1_000_000.0)
    assert totals["span_ns"] == pytest.approx(1_000_000.0)
    assert totals["kernel"]["pes"] == 100_000
    assert totals["kernel"]["busy_ns"] == {"gemm": pytest.approx(200_000.0)}
    stored = log._phases["launch"].intervals
    assert len(stored) <= RAW_INTERVALS
    assert sys.getsizeof(stored) < 64 * RAW_INTERVALS


def test_overlapping_requests_count_once_in_the_span_across_a_fold():
    """Groups of 8 overlapping requests (one per shard), 6,000 groups: more than the raw cap, so some fold."""
    log = PhaseLog()
    for g in range(6000):
        for s in range(8):
            log.add("copy_", g * 100.0 + s, g * 100.0 + 50.0, 50.0 - s, 4)
    (totals,) = log.totals()
    assert totals["count"] == 48_000
    assert totals["span_ns"] == pytest.approx(6000 * 50.0)
