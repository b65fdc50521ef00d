"""``python capped.py BYTES RANK ARGS...``: run ``python ARGS...`` with its address space limited to BYTES
(``resource.setrlimit``, as ``ulimit -v`` does) on MPI rank RANK only (``all``: on every process)."""

import os
import resource
import sys

limit, rank, *args = sys.argv[1:]
if rank == "all" or os.environ.get("PMI_RANK", "0") == rank:
    resource.setrlimit(resource.RLIMIT_AS, (int(limit), resource.getrlimit(resource.RLIMIT_AS)[1]))
os.execv(sys.executable, [sys.executable, *args])
