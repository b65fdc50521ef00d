"""A user script: import pdes, then the last process raises at the top level while the others start a run."""

import pdes
from tests.failure_cases.last_process import is_last_process
from tests.pdes.models import ping_pong_model

if is_last_process():
    raise RuntimeError("boom after import pdes")
pdes.Simulation(ping_pong_model(), partition={"a": 0, "b": 1}).run()
print("unreachable: the run should not have ended")
