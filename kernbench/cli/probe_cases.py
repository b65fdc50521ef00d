"""The traffic `kernbench probe` measures, and the measurement itself: plain dict rows, no printing.

Every case is one kind of transfer on an idle system (host to HBM, HBM to host, PE DMA to local HBM, to a remote
cube's HBM, to a neighbouring TCM, to another SIP's HBM). Requests that one host worker issues one after another
(each waited for before the next) never contend, so all cases — each a summary transfer, then the sweep sizes —
run back to back in a single engine run and their rows are cut out of sip0's completion list by order. That list
is allgathered by the engine, so every MPI rank builds the same rows from it, whichever rank simulated sip0.

Utilization is effective bandwidth over the case's bottleneck: the slowest link kind on its path, computed here
from the topology values (independently of the simulator, so a test can check the simulator against it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from kernbench.engine import Engine, MemoryReadMsg, MemoryWriteMsg, PeDmaMsg, Request
from kernbench.topology import PhysAddr, Topology, check_addr

KIB = 1 << 10
MIB = 1 << 20
SUMMARY_BYTES = 64 * KIB
"""Size of the transfer in the summary table."""
SWEEP_BYTES: tuple[int, ...] = tuple((4 * KIB) << i for i in range(9))
"""Bandwidth sweep sizes: 4 KiB, 8 KiB, ... 1 MiB."""
TRACE_BYTES = 4 * KIB
"""Size whose per-hop route trace is reported (the smallest sweep size: one HBM slice, a short trace)."""
INITIATOR_SIP = 0
"""Every case starts on sip0's host worker (host requests and PE DMA of a sip0 PE)."""

CASE_NAMES: tuple[str, ...] = (
    "h2d-write",
    "d2h-read",
    "pe-local-hbm",
    "pe-remote-cube-hbm",
    "pe-tcm",
    "cross-sip-pe-dma",
)


class ProbeError(ValueError):
    """A probe request that cannot be run (unknown case, topology too small): one line for the user, exit 2."""


@dataclass(frozen=True)
class Case:
    """One probe case: what moves where, how to build its request for ``n`` bytes, and its bottleneck."""

    name: str
    route: str
    make: Callable[[int], Request]
    bottleneck: str
    bottleneck_gbs: float
    addrs: tuple[PhysAddr, ...]  # every address the case touches, checked against the topology for 1 MiB


def _bottleneck(candidates: list[tuple[str, float]]) -> tuple[str, float]:
    """The slowest of the link kinds on a path; ties are named together ("PCIe / PCIe switch")."""
    low = min(bw for _, bw in candidates)
    names = [name for name, bw in candidates if bw == low]
    return " / ".join(dict.fromkeys(names)), low


def _build(name: str, topo: Topology) -> Case:
    """Case ``name`` on ``topo``: its addresses (distinct per case) and the link kinds its path crosses."""
    sysc, sip, cube, pe = topo.system, topo.sip, topo.cube, topo.pe
    pcie = [("PCIe", sysc.host.pcie.bandwidth_gbs), ("PCIe switch", sysc.switch.bandwidth_gbs)]
    io = [("IO NoC", sip.io_chiplet.noc.bandwidth_gbs), ("UCIe", sip.ucie.bandwidth_gbs)]
    xbar = [("xbar port", cube.xbar.bandwidth_gbs)]
    hbm = [("HBM channel", cube.hbm_ctrl.effective_bw_gbs)]
    s = INITIATOR_SIP
    if name == "h2d-write":
        dst = PhysAddr.hbm(s, 0, 0)
        return _case(name, f"host -> {_where(dst)}", partial(_h2d, dst), [*pcie, *io, *xbar, *hbm], (dst,))
    if name == "d2h-read":
        src = PhysAddr.hbm(s, 0, 1 * MIB)
        return _case(name, f"{_where(src)} -> host", partial(MemoryReadMsg, src), [*hbm, *xbar, *io, *pcie], (src,))
    # PE cases: PE 0 of cube 0 copies from its own TCM (a separate 1 MiB region per case)
    pe_port = [
        ("PE DMA", pe.pe_dma.bandwidth_gbs),
        ("xbar port", cube.xbar.bandwidth_gbs),
        ("TCM", pe.pe_tcm.bandwidth_gbs),
    ]
    if name == "pe-local-hbm":
        src, dst, extra = PhysAddr.tcm(s, 0, 0, 0), PhysAddr.hbm(s, 0, 2 * MIB), hbm
    elif name == "pe-remote-cube-hbm":  # the far corner of the mesh: the longest XY route
        src, dst = PhysAddr.tcm(s, 0, 0, 1 * MIB), PhysAddr.hbm(s, topo.cubes_per_sip - 1, 0)
        extra = [("UCIe", sip.ucie.bandwidth_gbs), *hbm]
    elif name == "pe-tcm":
        src, dst, extra = PhysAddr.tcm(s, 0, 0, 2 * MIB), PhysAddr.tcm(s, 0, 1, 0), []
    elif name == "cross-sip-pe-dma":
        src, dst = PhysAddr.tcm(s, 0, 0, 3 * MIB), PhysAddr.hbm(s + 1, 0, 0)
        extra = [*io, ("inter-SIP link", sysc.inter_sip_link.bandwidth_gbs), *hbm]
    else:
        raise ProbeError(f"unknown case {name!r}")
    return _case(name, f"{_where(src)} -> {_where(dst)}", partial(_pe_dma, src, dst), [*pe_port, *extra], (src, dst))


def _case(
    name: str, route: str, make: Callable[[int], Request], links: list[tuple[str, float]], addrs: tuple[PhysAddr, ...]
) -> Case:
    label, gbs = _bottleneck(links)
    return Case(name, route, make, label, gbs, addrs)


def _h2d(dst: PhysAddr, nbytes: int) -> Request:
    return MemoryWriteMsg(dst, nbytes=nbytes)


def _pe_dma(src: PhysAddr, dst: PhysAddr, nbytes: int) -> Request:
    """The PE that owns TCM ``src`` copies it to ``dst``."""
    return PeDmaMsg(src.sip, src.cube, src.pe, src=src, dst=dst, nbytes=nbytes)


def _where(addr: PhysAddr) -> str:
    """An address without its offset: which memory a case reads or writes."""
    return str(addr).split("+", 1)[0]


def _unavailable(name: str, topo: Topology) -> str | None:
    """Why ``name`` cannot run on ``topo`` (None when it can)."""
    if name == "cross-sip-pe-dma" and topo.sip_count < 2:
        return f"needs >= 2 SIPs; {topo.source} has {topo.sip_count}"
    if name == "pe-remote-cube-hbm" and topo.cubes_per_sip < 2:
        return f"needs >= 2 cubes per SIP; {topo.source} has {topo.cubes_per_sip}"
    if name == "pe-tcm" and topo.pes_per_cube < 2:
        return f"needs >= 2 PEs per cube; {topo.source} has {topo.pes_per_cube}"
    return None


def check_case_name(name: str | None) -> None:
    """Reject an unknown ``--case`` before anything is loaded, naming the valid ones."""
    if name is not None and name not in CASE_NAMES:
        raise ProbeError(f"unknown case {name!r}; valid cases: {', '.join(CASE_NAMES)}")


def plan(topo: Topology, only: str | None = None) -> tuple[list[Case], list[dict[str, str]]]:
    """The cases to run (all, or just ``only``) and notes on those skipped because the topology lacks them.

    A case asked for by name that cannot run is an error rather than a note: the user wanted that number.
    """
    check_case_name(only)
    cases: list[Case] = []
    notes: list[dict[str, str]] = []
    for name in CASE_NAMES if only is None else (only,):
        why = _unavailable(name, topo)
        if why is not None:
            if only is not None:
                raise ProbeError(f"{name} {why}")
            notes.append({"case": name, "message": f"skipped: {why}"})
            continue
        case = _build(name, topo)
        for addr in case.addrs:
            try:
                check_addr(addr, topo, max(SWEEP_BYTES))
            except ValueError as exc:
                raise ProbeError(f"{name}: {topo.source} is too small for the probe: {addr}: {exc}") from None
        cases.append(case)
    return cases, notes


def _sizes() -> list[int]:
    """The transfers of one case, in the order they run: the summary transfer, then the sweep."""
    return [SUMMARY_BYTES, *SWEEP_BYTES]


def measure(eng: Engine, cases: list[Case]) -> dict[str, list[dict[str, Any]]]:
    """Run every case's transfers back to back in one run of ``eng``; rows for the summary, sweep and traces.

    Under mpirun every rank calls this and gets the same rows; only the rank that owns sip0 issues the requests.
    ``eng`` must be fresh (not run yet): its completion list is cut up by position.
    """
    sizes = _sizes()

    def host(_sip: int) -> None:
        for case in cases:
            for n in sizes:
                eng.wait(eng.submit(case.make(n)))

    if eng.is_local(INITIATOR_SIP):
        eng.spawn(INITIATOR_SIP, host, name="probe")
    completed = eng.run().results[f"sip{INITIATOR_SIP}"]["completed"]
    expected = [n for _ in cases for n in sizes]
    if [c["nbytes"] for c in completed] != expected:
        raise RuntimeError(f"probe: sip{INITIATOR_SIP} completed {len(completed)} requests, expected {len(expected)}")

    rows: dict[str, list[dict[str, Any]]] = {"summary": [], "sweep": [], "hops": []}
    for i, case in enumerate(cases):
        first, *sweep = completed[i * len(sizes) : (i + 1) * len(sizes)]
        rows["summary"].append(_summary_row(case, first))
        for c in sweep:
            rows["sweep"].append(
                {
                    "case": case.name,
                    "nbytes": c["nbytes"],
                    "latency_ns": c["latency_ns"],
                    "bandwidth_gbs": c["bandwidth_gbs"],
                    "utilization": c["bandwidth_gbs"] / case.bottleneck_gbs,
                }
            )
            if c["nbytes"] == TRACE_BYTES:
                rows["hops"].extend(_hop_rows(case, c))
    return rows


def _summary_row(case: Case, c: dict[str, Any]) -> dict[str, Any]:
    return {
        "case": case.name,
        "route": case.route,
        "nbytes": c["nbytes"],
        "latency_ns": c["latency_ns"],
        "command_ns": c["command_ns"],
        "overhead_ns": c["overhead_ns"],
        "wire_ns": c["wire_ns"],
        "queueing_ns": c["queueing_ns"],
        "drain_ns": c["serialization_ns"],
        "bandwidth_gbs": c["bandwidth_gbs"],
        "bottleneck": case.bottleneck,
        "bottleneck_gbs": case.bottleneck_gbs,
        "utilization": c["bandwidth_gbs"] / case.bottleneck_gbs,
    }


def _hop_rows(case: Case, c: dict[str, Any]) -> list[dict[str, Any]]:
    start = c["start_ns"]
    return [
        {
            "case": case.name,
            "nbytes": c["nbytes"],
            "hop": k,
            "link": h["link"],
            "head_in_ns": h["head_in"],
            "tail_out_ns": h["tail_out"],
            "cumulative_ns": h["tail_out"] - start,
            "queued_ns": h["queued_ns"],
        }
        for k, h in enumerate(c["hops"], 1)
    ]
