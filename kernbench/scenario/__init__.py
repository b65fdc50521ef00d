"""What-if scenarios (``kernbench run --scenario FILE``, ``Engine(topo, scenario=...)``): slower SIPs, jitter,
degraded and failed inter-SIP links, and several jobs on one fabric (docs/adr/0023-what-if-scenarios.md).

It sits above the topology (a scenario is checked against a system) and below the engine, which asks it how long
a SIP's compute takes, how fast each link runs and which links are down at a given instant.
"""

from kernbench.scenario.loader import ScenarioError, load_scenario, parse_scenario
from kernbench.scenario.model import NO_SCENARIO, Job, LinkChange, Scenario
from kernbench.scenario.speed import PeSpeed

__all__ = [
    "NO_SCENARIO",
    "Job",
    "LinkChange",
    "PeSpeed",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]
