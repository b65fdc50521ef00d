"""kernbench: the accelerator model on top of the pdes engine (see DESIGN.md)."""

import pdes  # noqa: F401 (first: under mpirun it sizes numpy's thread pools before numpy loads, pdes.thread_pools)
