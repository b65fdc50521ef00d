"""kernbench: the accelerator model on top of the pdes engine (docs/index.md; design decisions in docs/adr/)."""

import pdes  # noqa: F401 (first: under mpirun it sizes numpy's thread pools before numpy loads, pdes.thread_pools)
