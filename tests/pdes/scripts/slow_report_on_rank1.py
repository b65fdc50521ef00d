"""Rank 1 fails and takes longer than `pdes.abort.WAIT_S` to print its traceback (its exception's message is slow
to format); rank 0 only heard of the failure (see test_mpi_jobs.py). Rank 0 must wait for rank 1's report.

Nothing here installs the abort hook: importing pdes does under mpirun.
"""

import time

from pdes.abort import WAIT_S
from pdes.mpi import MPI  # sets MPICH's progress variables first


class SlowToPrint(Exception):
    reported_by = 1

    def __str__(self) -> str:
        time.sleep(WAIT_S + 2)  # formatting the traceback calls this: longer than rank 0 waits to hear of a report
        return "slow to print"


class HeardOfIt(Exception):
    reported_by = 1  # like a RemoteError: rank 1 reports it


MPI.COMM_WORLD.Barrier()
if MPI.COMM_WORLD.Get_rank() == 1:
    raise SlowToPrint()
raise HeardOfIt("rank 1 failed")
