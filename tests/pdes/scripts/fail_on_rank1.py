"""A user script whose model raises in LP 'c', which lives on rank 1 (see test_mpi_jobs.py).

Nothing here installs the abort hook: ``import pdes`` does under mpirun.
"""

from pdes import Simulation
from tests.pdes.models import failing_model

Simulation(failing_model("c"), partition={"a": 0, "b": 0, "c": 1, "d": 0}).run()
print("unreachable: the run should have failed")
