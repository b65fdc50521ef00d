"""Running a bench on a fresh engine: one host worker per SIP (`run_bench`), or an SPMD bench's ``run(torch)`` at
the top level of every process (`run_spmd`), and the plain-data result of each SIP.

A bench is host code: its ``run(torch)`` is called in a host worker bound to one SIP, with the process's
`RuntimeContext` as ``torch``, and returns a dict of ``checks`` (name -> bool) and metrics
(docs/guides/writing-a-bench.md). The bench's simulated latency is the SIP's clock from the call to its return.
Everything a worker reports is plain data, gathered from every rank by the engine, so under mpirun every rank
knows every SIP's outcome.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from kernbench.ccl import CclConfig
from kernbench.cli.run_report import FAIL, PASS
from kernbench.cli.spmd_verdicts import combine_verdicts
from kernbench.cli.system_args import warn_idle_ranks
from kernbench.engine import Engine
from kernbench.engine.recorder import Recording
from kernbench.runtime import RuntimeContext
from kernbench.runtime.multiprocessing import SpawnException
from kernbench.runtime.worker_errors import user_frame, user_frame_in
from kernbench.scenario import NO_SCENARIO, Scenario
from kernbench.topology import Topology
from pdes import RemoteError, SimulationDeadlock, memory
from pdes.codec import CodecError, encode
from pdes.errors import message_of
from pdes.progress import ProgressLine

BenchFn = Callable[[RuntimeContext], Any]


def run_engine(
    args: argparse.Namespace, topo: Topology, *, recording: Recording | None = None, scenario: Scenario = NO_SCENARIO
) -> Engine:
    """A fresh engine for a run's options: the MPI transport when launched by mpirun, else ``--ranks`` virtual
    ranks, with ``--partition`` and ``--sync``; a warning when ranks would have no SIP. Reports come from the
    workload itself (``report_requests=False``)."""
    eng = Engine(
        topo,
        report_requests=False,
        transport="local" if args.ranks else None,
        ranks=args.ranks,
        partition=args.partition,
        sync=args.sync,
        recording=recording,
        scenario=scenario,
    )
    warn_idle_ranks(eng, topo)
    return eng


def execute(
    args: argparse.Namespace,
    module: ModuleType,
    bench: BenchFn,
    topo: Topology,
    ccl: CclConfig,
    sips: list[int],
    recording: Recording | None,
    scenario: Scenario,
) -> tuple[Engine, list[dict[str, Any]]]:
    """The bench on a fresh engine of ``topo`` under ``scenario``: the engine and the results of its SIPs."""
    eng = run_engine(args, topo, recording=recording, scenario=scenario)
    progress = ProgressLine(
        enabled=False if args.json or eng.rank != 0 else None,
        unit="ns",
        workers_label="sips done",
        workers_total=len(sips),
    )
    eng.progress = progress  # every run of this engine: the bench's, or those an SPMD bench starts by spawn
    try:
        if getattr(module, "SPMD", False):
            results = run_spmd(eng, ccl, bench, sips)
        else:
            results = run_bench(eng, ccl, bench, sips)
    finally:
        progress.close()
    if args.verify_data:
        for r in results:
            if r["status"] == PASS and not r["checks"]:
                r["status"], r["error"] = FAIL, "--verify-data: the bench checked nothing (it returned no checks)"
    return eng, results


def run_stats(eng: Engine) -> dict[str, Any]:
    """Collective: the engine's statistics (`pdes.Simulation.stats`), each rank's ``sips`` (the SIPs it owns)."""
    stats = eng.sim.stats()
    for r in stats["ranks"]:
        r["sips"] = r["lps"]  # one LP per SIP
    return stats


def ran_with(params: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters as the bench ran them: a default the bench resolves itself (``ccl_allreduce``'s
    ``n_elem=0``: the ccl.yaml algorithm's) shows the value its results report under the same name."""
    out = dict(params)
    for key in params:
        values = [r["metrics"][key] for r in results if key in r.get("metrics", {})]
        if values and all(v == values[0] for v in values):
            out[key] = values[0]
    return out


def run_bench(eng: Engine, ccl: CclConfig, bench: BenchFn, sips: list[int]) -> list[dict[str, Any]]:
    """Run ``bench(torch)`` once on each SIP of ``sips`` (all at once) in one run of the fresh engine ``eng``
    (shown by ``eng.progress``, like the runs of SPMD benches).

    Returns one result per SIP, in ``sips`` order, identical on every rank: ``sip``, ``rank`` (where it ran),
    ``status``, ``sim_latency_ns``, ``checks``, ``metrics``, ``error`` (None or one line) and ``phases``
    (`PhaseLog.totals`). SIPs whose host code was left waiting for something that never happens (a kernel's
    receive nobody sends to) FAIL with the deadlock's first line; the others keep their results.
    """
    for sip in sips:
        if eng.is_local(sip):
            # One torch per SIP, as one process per rank would have: RuntimeContext.cleanup() (``with torch:``)
            # frees every tensor of its context, and another SIP's tensors cannot be unmapped from this worker.
            torch = RuntimeContext(eng, ccl)
            eng.spawn(sip, _worker, eng, torch, bench, name=_worker_name(sip))
    deadlock: SimulationDeadlock | None = None
    try:
        done = eng.run().workers
    except SimulationDeadlock as exc:
        done, deadlock = exc.finished, exc
    return [done.get(_worker_name(sip)) or _deadlocked(eng, sip, deadlock) for sip in sips]


def _deadlocked(eng: Engine, sip: int, deadlock: SimulationDeadlock | None) -> dict[str, Any]:
    """The result of a SIP whose host code never finished: it waited in ``deadlock``."""
    if deadlock is None:
        raise RuntimeError(f"the bench's host code on sip{sip} did not finish")
    waiting = next((w for w in deadlock.blocked if w["worker"] == _worker_name(sip)), {"now": 0.0})
    lines = message_of(deadlock).splitlines()
    mine = [line.strip() for line in lines[1:] if line.startswith(f"  sip{sip}.")][:1]  # its first stuck queue
    return {
        "sip": sip,
        "rank": eng.rank_of(sip),
        "status": FAIL,
        "sim_latency_ns": float(waiting["now"]),
        "checks": {},
        "metrics": {},
        "error": f"{type(deadlock).__name__}: " + "; ".join([lines[0], *mine]) + " (this SIP's host code never ended)",
        "phases": [],
    }


def run_spmd(eng: Engine, ccl: CclConfig, bench: BenchFn, sips: list[int]) -> list[dict[str, Any]]:
    """Run an SPMD bench (``SPMD = True``): ``run(torch)`` at the top level of every process, as a script under
    mpirun; it starts its ranks with ``torch.multiprocessing.spawn`` and returns one dict, the same on every
    process (spawn gathers every rank's results). Reported once per SIP: its latency is the bench's
    ``sim_latency_ns`` if it returns one, else the SIP's simulated time in spawned workers (first start to last
    end, `Multiprocessing.spans`), and its phases its runtime trace (`Multiprocessing.phases`).

    Whatever ``run(torch)`` raises on one process (``sys.exit`` included) is a FAIL on every process: the
    processes settle (`Engine.settle`) after it, so one that failed outside a spawn does not leave the others
    waiting inside it. Processes that judge differently (a check of their own) FAIL together
    (`combine_verdicts`)."""
    torch = RuntimeContext(eng, ccl)
    checks: dict[str, bool] = {}
    metrics: dict[str, Any] = {}
    failure: BaseException | None = None
    try:
        checks, metrics = split_result(bench(torch))
    except (Exception, SystemExit) as exc:
        memory.check(exc)
        failure = exc
    try:  # a process that failed before a spawn the others are in ends it for them; all learn who failed
        eng.settle(failure)
    except (Exception, SystemExit) as exc:
        memory.check(exc)
        failure = failure or exc
    error = None if failure is None else one_line(failure)
    latency = metrics.pop("sim_latency_ns", None)
    failed = [name for name, ok in checks.items() if not ok]
    status = PASS if error is None and not failed else FAIL
    if error is None and failed:
        error = "failed checks: " + ", ".join(failed)
    verdict = combine_verdicts({"status": status, "error": error, "checks": checks})
    status, error, checks = verdict["status"], verdict["error"], verdict["checks"]
    spans, phases = torch.multiprocessing.spans, torch.multiprocessing.phases
    return [
        {
            "sip": sip,
            "rank": eng.rank_of(sip),
            "status": status,
            "sim_latency_ns": float(latency) if latency is not None else _span_ns(spans.get(sip)),
            "checks": checks,
            "metrics": metrics,
            "error": error,
            "phases": phases.get(sip, []),
        }
        for sip in sips
    ]


def _span_ns(span: tuple[float, float] | None) -> float:
    return 0.0 if span is None else span[1] - span[0]


def _worker_name(sip: int) -> str:
    return f"bench.sip{sip}"


def _worker(sip: int, eng: Engine, torch: RuntimeContext, bench: BenchFn) -> dict[str, Any]:
    """Host code of one SIP: time the bench, catch what it raises, ``sys.exit`` included (a FAIL of this SIP,
    not a crash of the whole job that would lose every other SIP's report)."""
    start = eng.now()
    checks: dict[str, bool] = {}
    metrics: dict[str, Any] = {}
    error = None
    try:
        value = bench(torch)
        end = eng.now()
        checks, metrics = split_result(value)
    except (Exception, SystemExit) as exc:  # sys.exit in host code fails this SIP, not the whole job
        memory.check(exc)
        end = eng.now()
        error = one_line(exc)
    failed = [name for name, ok in checks.items() if not ok]
    status = PASS if error is None and not failed else FAIL
    if error is None and failed:
        error = "failed checks: " + ", ".join(failed)
    result = {
        "sip": sip,
        "rank": eng.rank_of(sip),
        "status": status,
        "sim_latency_ns": end - start,
        "checks": checks,
        "metrics": metrics,
        "error": error,
        "phases": torch.traces[sip].totals(),
    }
    return travels(result)


def travels(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` if every value in it can travel between ranks (msgpack, `pdes.codec`), else the same result with
    no metrics, FAILed with the reason: one SIP's bad value must not lose every other SIP's report."""
    try:
        encode(result)
    except CodecError as exc:
        bad = next((k for k, v in result["metrics"].items() if not _encodes(v)), None)
        what = f"metric {bad!r}" if bad is not None else "its result"
        return {
            **result,
            "status": FAIL,
            "metrics": {},
            "error": f"{what} cannot be sent between ranks: {message_of(exc)}",
        }
    return result


def _encodes(value: Any) -> bool:
    try:
        encode(value)
    except CodecError:
        return False
    return True


def split_result(value: Any) -> tuple[dict[str, bool], dict[str, Any]]:
    """A bench's return value -> (checks, metrics); anything but a dict with a dict of checks raises TypeError."""
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        raise TypeError(f"run(torch) returned {type(value).__name__}, expected a dict (or None)")
    raw_checks = value.get("checks", {})
    if not isinstance(raw_checks, dict):
        raise TypeError(f"run(torch) returned checks of type {type(raw_checks).__name__}, expected a dict")
    checks = {str(name): bool(ok) for name, ok in raw_checks.items()}
    metrics = {str(k): plain(v) for k, v in value.items() if k != "checks"}
    return checks, metrics


def plain(value: Any) -> Any:
    """``value`` as JSON- and msgpack-ready data: numpy scalars and arrays become Python values and lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def one_line(exc: BaseException) -> str:
    """``Type: message (at file.py:LINE)``: the innermost line of user code (the bench, or what it called) that
    raised; for another process's failure (`RemoteError`) the one its traceback names. A `SpawnException`'s
    message already names each failed rank's own line (not the ``spawn`` call's)."""
    if isinstance(exc, SpawnException):
        where = None
    elif isinstance(exc, RemoteError):
        where = user_frame_in(exc.failures[0]["traceback"])
    else:
        where = user_frame(exc)
    message = " ".join(message_of(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {message}" + (f" (at {where})" if where else "")
