"""A user script whose LP 'c' (on rank 1) raises, and rank 1 then hangs instead of ending the job."""

import time

from pdes import Simulation
from tests.pdes.models import failing_model

try:
    Simulation(failing_model("c"), partition={"a": 0, "b": 0, "c": 1, "d": 0}).run()
except ZeroDivisionError:
    time.sleep(60)  # stuck: rank 0, which only learnt of the failure, must end the job itself
print("unreachable: the run should have failed")
