"""kernbench: the accelerator model on top of the pdes engine (docs/index.md; design decisions in docs/adr/)."""

import pdes  # noqa: F401 (first: it sets numpy's thread pools to one thread before numpy loads, pdes.thread_pools)
