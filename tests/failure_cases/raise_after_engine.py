"""A user script: build a kernbench Engine, then the last process raises while the others start a run."""

from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.topology import load_topology
from tests.failure_cases.last_process import is_last_process

engine = Engine(load_topology("topology.yaml"))
if is_last_process():
    raise RuntimeError("boom after building an Engine")
RuntimeContext(engine).multiprocessing.spawn(lambda rank: rank)
print("unreachable: the run should not have ended")
