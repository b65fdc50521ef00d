"""One verdict for an SPMD bench run by several processes.

Under mpirun every process runs the bench's ``run(torch)`` and judges the run itself. The results it gathers by
``spawn`` are the same everywhere, but a bench may check something of its own process only: then one process
passes and another fails. The job must say one thing: rank 0 prints, and every process exits with the code of
what it prints. So each process's verdict is combined with all the others' (a check passes where it passes on
every process; the errors say which MPI rank found them).
"""

from __future__ import annotations

from typing import Any

from pdes.transport import launched_by_mpi

PASS, FAIL = "PASS", "FAIL"

Verdict = dict[str, Any]
"""``status``, ``error`` (None or one line) and ``checks`` (name -> bool)."""


def combine_verdicts(mine: Verdict) -> Verdict:
    """Collective under mpirun: the verdict of every process together (``mine`` when all agree, and without an MPI
    launcher)."""
    if not launched_by_mpi():
        return mine
    from pdes.mpi import MPI

    every = MPI.COMM_WORLD.allgather(mine)
    return combine(every)


def combine(every: list[Verdict]) -> Verdict:
    """The verdicts of MPI ranks ``0..`` as one: FAIL if any failed, each check ok only if ok on every rank; the
    error is rank 0's when it failed (a failure every rank saw, as `RemoteError` on the others, is said once),
    else each failed rank's, with its rank."""
    first = every[0]
    if all(v == first for v in every):
        return first
    checks: dict[str, bool] = {}
    for v in every:
        for name, ok in v["checks"].items():
            checks[name] = checks.get(name, True) and ok
    if first["status"] != PASS:
        return {"status": FAIL, "error": first["error"], "checks": checks}
    errors: dict[str, list[int]] = {}
    for rank, v in enumerate(every):
        if v["status"] != PASS:
            errors.setdefault(v["error"] or "failed", []).append(rank)
    if not errors:
        return {"status": PASS, "error": None, "checks": checks}
    error = "; ".join(f"MPI rank{'s' * (len(r) > 1)} {', '.join(map(str, r))}: {e}" for e, r in errors.items())
    return {"status": FAIL, "error": error, "checks": checks}
