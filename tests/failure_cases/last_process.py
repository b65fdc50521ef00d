"""Whether this is the job's last process, read from the MPI launcher's environment before MPI starts."""

import os

from pdes.transport import launcher_rank


def is_last_process() -> bool:
    """True on the last rank of an mpirun job, and in a process started without mpirun."""
    return launcher_rank() == int(os.environ.get("PMI_SIZE", "1")) - 1
