"""The same workload gives identical completions whatever the number of ranks and the LP-to-rank mapping."""

import numpy as np
import pytest

from tests.kernbench.helpers import with_sips

from .conftest import run_hosts
from .workload import block, hosts


def run(topo, **engine_kwargs):
    read_back = {}
    _, result = run_hosts(topo, hosts(topo, read_back), **engine_kwargs)
    return result.results, read_back


@pytest.mark.parametrize("count", [2, 4])
def test_virtual_ranks_and_partitions_do_not_change_results(topo, count):
    system = with_sips(topo, count)
    reference, data = run(system)
    for sip in range(count):
        np.testing.assert_array_equal(data[sip], block((sip - 2) % count))
    variants = [
        {"transport": "local", "ranks": 2},
        {"transport": "local", "ranks": count, "partition": "round_robin"},
        {"transport": "local", "ranks": 2, "sync": "window"},
    ]
    for kwargs in variants:
        results, other = run(system, **kwargs)
        assert results == reference, kwargs
        assert all(np.array_equal(other[s], data[s]) for s in range(count))


def test_the_workload_contends(topo):
    """Guard for the tests above: the concurrent pulls queue somewhere, so ordering decisions matter."""
    results, _ = run(with_sips(topo, 4))
    assert any(c["queueing_ns"] > 0 for r in results.values() for c in r["completed"])
