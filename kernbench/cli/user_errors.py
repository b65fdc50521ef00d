"""The user's errors (a bad file, an unknown bench, an impossible request): one line on stderr, exit code 2.

Under ``mpirun`` every process prepares the same run, and usually finds the same error; but one that finds an
error the others do not (a bench that fails to import on one rank only) would leave them waiting for it in the
engine forever. So a subcommand prepares inside `agree_on_setup`: before any process builds an engine, every
process learns every process's error, and all raise the same one, which rank 0 alone prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from kernbench.ccl import CclConfigError
from kernbench.cli.bench_loader import BenchError
from kernbench.cli.ccl_perf import CclPerfError
from kernbench.cli.memory_needs import NotEnoughMemory
from kernbench.cli.output_files import OutputError
from kernbench.cli.plots import PlotError
from kernbench.cli.probe_cases import ProbeError
from kernbench.scenario import ScenarioError
from kernbench.topology import TopologyError
from pdes.transport import launched_by_mpi

T = TypeVar("T")


class RankSetupError(ValueError):
    """Some MPI ranks found a user error that the others did not: each rank's error, named by rank."""


USER_ERRORS = (
    TopologyError,
    CclConfigError,
    ScenarioError,
    ProbeError,
    BenchError,
    CclPerfError,
    PlotError,
    OutputError,
    NotEnoughMemory,
    RankSetupError,
)
"""Errors that are the user's: one line on stderr and exit code 2 (3 for `NotEnoughMemory`)."""


def agree_on_setup(setup: Callable[[], T]) -> T:
    """``setup()``, after which every MPI rank knows whether any rank's setup raised a user error.

    If any did, every rank raises: the error itself when every rank found the same one (as one process would
    say it), else a `RankSetupError` naming each rank's. Without an MPI launcher, just ``setup()``.
    """
    try:
        value, error = setup(), None
    except USER_ERRORS as exc:
        value, error = None, exc
    if launched_by_mpi():
        from pdes.mpi import MPI

        messages = MPI.COMM_WORLD.allgather(None if error is None else str(error))
        failed = {rank: message for rank, message in enumerate(messages) if message is not None}
        if failed and not (error is not None and len(failed) == len(messages) and len(set(failed.values())) == 1):
            raise RankSetupError("; ".join(f"rank {rank}: {message}" for rank, message in failed.items()))
    if error is not None:
        raise error
    return value  # type: ignore[return-value]


def on_first_rank(fn: Callable[[], T]) -> T:
    """``fn()`` on MPI rank 0 only, its value (or its user error) given to every rank: for what rank 0 alone does,
    such as checking the files it will write, and the exit code that follows from writing them. Without an MPI
    launcher, just ``fn()``."""
    if not launched_by_mpi():
        return fn()
    from pdes.mpi import MPI

    comm = MPI.COMM_WORLD
    value, error = None, None
    if comm.Get_rank() == 0:
        try:
            value = fn()
        except USER_ERRORS as exc:
            error = exc
    value, message = comm.bcast((value, None if error is None else str(error)), root=0)
    if error is not None:
        raise error
    if message is not None:
        raise RankSetupError(message)
    return value  # type: ignore[no-any-return]
