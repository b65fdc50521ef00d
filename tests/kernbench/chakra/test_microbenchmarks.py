"""ASTRA-sim's collective microbenchmarks (../shared/chakra, never copied here) run and pass on a ring and a 2D torus
of their rank count, each collective taking what ``kernbench ccl-perf`` says for the same op, size and system.

Every set (16- and 8-rank all-gathers included) is compared by ``scripts/chakra_vs_ccl_perf.py``, whose table is in
docs/guides/chakra-traces.md; this test keeps the quick ones.
"""

import pytest

from kernbench.ccl import load_ccl_config
from kernbench.chakra.report import array_bytes
from kernbench.cli.ccl_perf import run_sweep
from kernbench.engine import Engine
from kernbench.topology import load_topology
from tests.kernbench.chakra.helpers import chakra, microbenchmark, needs_microbenchmarks
from tests.kernbench.helpers import DEFAULT_TOPOLOGY

pytestmark = needs_microbenchmarks

MIB = 1 << 20
CASES = [
    *[
        (op, 4, kind)
        for op in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")
        for kind in ("ring_1d", "torus_2d")
    ],
    ("all_reduce", 8, "ring_1d"),
    ("all_to_all", 8, "ring_1d"),
    ("all_reduce", 16, "torus_2d"),
    ("reduce_scatter", 16, "torus_2d"),
]


def ccl_perf_us(op: str, sips: int, kind: str, size: int) -> float:
    """``kernbench ccl-perf --op OP --sips N --sip-topology KIND --min-bytes SIZE --max-bytes SIZE``'s time."""
    topo = load_topology(DEFAULT_TOPOLOGY, sips=sips, sip_topology=kind)
    [row] = run_sweep(Engine(topo, report_requests=False), load_ccl_config(), op, [size], "f32", 0)
    return row["time_us"]


@pytest.mark.parametrize(("op", "sips", "kind"), CASES, ids=[f"{o}-{n}-{k}" for o, n, k in CASES])
def test_a_microbenchmark_takes_what_ccl_perf_says(capsys, op, sips, kind):
    code, line, err = chakra(capsys, microbenchmark(op, sips), "--sips", str(sips), "--sip-topology", kind)
    assert code == 0, err
    assert (line["status"], line["sips"], line["error"]) == ("PASS", sips, None)
    [row] = line["slowest"]["collectives"]
    assert (row["op"], row["size"], row["count"], row["ranks"]) == (op, MIB, 1, sips)
    reference = ccl_perf_us(op, sips, kind, array_bytes(op, MIB, sips))
    assert row["time_us"] == pytest.approx(reference, rel=0.05)
