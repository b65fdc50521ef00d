"""The abort hook's choices that need no MPI job (the jobs themselves: tests/test_failure_matrix.py)."""

import sys

import pytest

from pdes import RemoteError, SimulationDeadlock, transport
from pdes.abort import OPT_OUT_VAR, install, reporting_rank


def test_reporting_rank_is_read_from_the_error_or_what_it_was_raised_from():
    remote = RemoteError("rank 3 failed", [{"rank": 3, "lp": "x", "type": "E", "message": "", "traceback": ""}])
    assert reporting_rank(remote) == 3
    assert reporting_rank(SimulationDeadlock("stuck", [], [])) == 0
    assert reporting_rank(ValueError("mine")) is None
    wrapped = RuntimeError("wrapped")  # as ``raise RuntimeError("wrapped") from remote`` leaves it
    wrapped.__cause__ = remote
    assert reporting_rank(wrapped) == 3


@pytest.mark.parametrize(
    "env", [{}, {"PMI_RANK": "1", "PMI_SIZE": "2", OPT_OUT_VAR: "1"}, {"PMI_RANK": "0", "PMI_SIZE": "1"}]
)
def test_hook_is_not_installed_without_a_launcher_when_opted_out_or_alone(monkeypatch, env):
    for var in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", OPT_OUT_VAR):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)  # an MPI of this test process would say 1 rank
    install()
    assert sys.excepthook is sys.__excepthook__


def test_hook_is_installed_under_a_launcher_of_several_processes(monkeypatch):
    monkeypatch.setattr(transport, "_launcher_present", lambda: True)  # as if mpirun's PMI socket were there
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.delenv(OPT_OUT_VAR, raising=False)
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)  # an MPI of this test process would say 1 rank
    install()
    assert sys.excepthook is not sys.__excepthook__
