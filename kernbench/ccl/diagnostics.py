"""CCL diagnostics (ADR-0023 D14 / ADR-0025 D5 of the seeds): the IPCQ trace and a pointer dump of every queue.

Trace: set ``KERNBENCH_CCL_TRACE`` before the run.

- ``KERNBENCH_CCL_TRACE=1``: each process writes its lines to stderr as they happen.
- ``KERNBENCH_CCL_TRACE=PATH``: a process writes ``PATH``; under ``mpirun`` rank k writes ``PATH.rank<k>``.

One line per IPCQ ``send``, ``recv`` and ``credit`` (`kernbench.engine.ipcq.trace_line`), for the SIPs the process
simulates. A process writes in its own event order, which depends on how the SIPs are split over processes; in the
order of `trace_sort_key` (time, rank, cube, pe, direction, event, seq) the lines of a one-process run and of an
``mpirun -n N`` job are the same, line for line. `merge_trace` (``python -m kernbench.ccl.diagnostics FILE...``)
merges the files of a job in that order; ``sort_trace`` sorts any lines (stderr captured from ``mpirun``).

Pointer dump: `pointer_dump(torch_or_engine)` returns, for every queue of every SIP this process simulates, its
pointers under this project's names and the seeds' (``my_head``, ``my_tail``, ``peer_head_cache``,
``peer_tail_cache``), both rings' addresses (the direction <-> ring mapping of address-based matching) and what a PE
waits for. Under ``mpirun`` each process dumps its own SIPs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from kernbench.engine.ipcq import (
    TRACE_ENV,
    reload_trace_setting,
    trace_enabled,
    trace_line,
    trace_sort_key,
)

__all__ = [
    "TRACE_ENV",
    "merge_trace",
    "pointer_dump",
    "reload_trace_setting",
    "sort_trace",
    "trace_enabled",
    "trace_line",
    "trace_sort_key",
]

TRACE_PREFIX = "ccl-trace "


def sort_trace(lines: Iterable[str]) -> list[str]:
    """The trace lines among ``lines`` (others are dropped), in the canonical order of `trace_sort_key`."""
    return sorted((line.rstrip("\n") for line in lines if line.startswith(TRACE_PREFIX)), key=trace_sort_key)


def merge_trace(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The lines of several trace files (one per rank of a job) as one trace, in canonical order."""
    lines: list[str] = []
    for path in paths:
        with open(path) as f:
            lines.extend(f)
    return sort_trace(lines)


def pointer_dump(target: Any) -> str:
    """Every IPCQ queue of the SIPs this process simulates: one header per PE, one line per direction.

    ``target``: the runtime's ``torch`` object (a `kernbench.runtime.RuntimeContext`), an `kernbench.engine.Engine`,
    or one SIP's model. Call it from host code or after a run; under ``mpirun`` it covers this process's SIPs."""
    lines = []
    for model in _models(target):
        for (cube, pe), table in sorted(model.ipcq.queues.items()):
            lines.append(f"sip{model.sip}.cube{cube}.pe{pe}")
            for direction in sorted(table):
                p = table[direction].pointers()
                waiting = f" waiting=[{p['waiting']}]" if p["waiting"] else ""
                lines.append(
                    f"  {direction}: my_head={p['my_head']} my_tail={p['my_tail']} "
                    f"peer_head_cache={p['peer_head_cache']} peer_tail_cache={p['peer_tail_cache']} "
                    f"(tx_seq={p['tx_seq']} credits={p['credits']} rx_head={p['rx_head']} rx_next={p['rx_next']} "
                    f"rx_tail={p['rx_tail']}) send_to={p['send_to']} peer_rx_base={p['peer_rx_base']} "
                    f"recv_from={p['recv_from']} rx_base={p['rx_base']} ring={p['n_slots']}x{p['slot_size']}"
                    f"{waiting}"
                )
    return "\n".join(lines)


def _models(target: Any) -> list[Any]:
    """The SIP models behind ``target``, local ones only, by SIP."""
    if hasattr(target, "ipcq") and hasattr(target, "sip"):
        return [target]
    engine = getattr(target, "engine", target)
    if not hasattr(engine, "is_local") or not hasattr(engine, "topo"):
        raise TypeError(
            f"pointer_dump: expected the torch object, an Engine or a SIP model, got {type(target).__name__}"
        )
    return [engine.sip(s) for s in range(engine.topo.sip_count) if engine.is_local(s)]


def main(argv: list[str] | None = None) -> int:
    """``python -m kernbench.ccl.diagnostics FILE...``: print the merged trace of a job's files."""
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print(
            "usage: python -m kernbench.ccl.diagnostics TRACE_FILE...  (merge KERNBENCH_CCL_TRACE files of a job)",
            file=sys.stderr,
        )
        return 2
    for line in merge_trace(paths):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
