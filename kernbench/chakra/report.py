"""The report of a Chakra run, as ASTRA-sim gives it: for the slowest rank and for every rank, total time, compute,
exposed communication, and a table of the collectives (op, size, count, time, busbw).

``time`` is a collective's mean duration per call on that rank, from its issue to its completion there (waiting for
late peers included, as ASTRA-sim counts it). ``busbw`` is nccl-tests' (and ``kernbench ccl-perf``'s): the full
array's bytes over that time, times ``2(n-1)/n`` for all-reduce and ``(n-1)/n`` for all-gather, reduce-scatter and
all-to-all (1 for broadcast and reduce), ``n`` the group's size; the full array of an all-gather is ``n`` times its
``comm_size`` (each rank's input), of the others ``comm_size``. The JSON has every rank; the text
(`kernbench.cli.chakra_cmd`) the slowest rank's table and the spread over the ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kernbench.chakra.workload import Workload

BUS_FACTORS: dict[str, Callable[[int], float]] = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda _n: 1.0,
    "reduce": lambda _n: 1.0,
}


def array_bytes(op: str, size: int, n: int) -> int:
    """nccl-tests' size of a collective of ``comm_size`` ``size`` on ``n`` ranks (ccl-perf's ``--min-bytes``)."""
    return size * n if op == "all_gather" else size


def collective_rows(rank: dict[str, Any], sizes: dict[str, int]) -> list[dict[str, Any]]:
    """A rank's collectives table; ``sizes``: each group's rank count ("" the world)."""
    rows = []
    for op, size, group, calls, total_ns in rank["collectives"]:
        mean = total_ns / calls
        factor = BUS_FACTORS.get(op)
        n = sizes[group]
        rows.append(
            {
                "op": op,
                "size": size,
                "group": group or "world",
                "ranks": n,
                "count": calls,
                "time_us": mean / 1e3,
                "total_us": total_ns / 1e3,
                "busbw_gbs": None if factor is None or mean <= 0 else array_bytes(op, size, n) / mean * factor(n),
            }
        )
    return rows


def rank_entry(rank: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any]:
    """One rank's JSON: its breakdown in microseconds and its tables."""
    return {
        "rank": rank["rank"],
        "sip": rank["rank"],
        **{key.removesuffix("_ns") + "_us": rank[key] / 1e3 for key in TIMES},
        "nodes": rank["nodes"],
        "collectives": collective_rows(rank, sizes),
        "messages": [
            {"kind": kind, "count": n, "bytes": nbytes, "time_us": t / 1e3} for kind, n, nbytes, t in rank["messages"]
        ],
    }


TIMES = ("total_ns", "compute_ns", "exposed_comm_ns", "comm_ns", "other_ns")


def make_report(workload: Workload, ranks: list[dict[str, Any]], error: str | None) -> dict[str, Any]:
    """The JSON record (without the run's own fields: ranks, wall time): status, the slowest rank, every rank."""
    sizes = {"": workload.world, **{g: len(m) for g, m in workload.groups}}
    entries = [rank_entry(r, sizes) for r in ranks]
    slowest = max(entries, key=lambda e: (e["total_us"], -e["rank"]), default=None)
    return {
        "chakra": workload.prefix,
        "replicated": workload.replicated,
        "status": "PASS" if error is None and len(entries) == workload.world else "FAIL",
        "sips": workload.world,
        "error": error,
        "slowest": slowest,
        "per_rank": entries,
    }
