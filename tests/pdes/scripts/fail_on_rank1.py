"""A user script whose model raises in LP 'c', which lives on rank 1 (see test_mpi_jobs.py)."""

from pdes import Simulation
from pdes.mpi import abort_on_uncaught_exception
from tests.pdes.models import failing_model

abort_on_uncaught_exception()
Simulation(failing_model("c"), partition={"a": 0, "b": 0, "c": 1, "d": 0}).run()
print("unreachable: the run should have failed")
