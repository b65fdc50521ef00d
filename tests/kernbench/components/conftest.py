from pathlib import Path

import pytest
import simpy

from kernbench.components import SipFabric
from kernbench.topology import Topology, load_topology

DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[3] / "topology.yaml"


@pytest.fixture(scope="session")
def topo() -> Topology:
    """The default topology.yaml; the closed-form tests write its numbers out by hand."""
    return load_topology(DEFAULT_TOPOLOGY)


@pytest.fixture
def env() -> simpy.Environment:
    return simpy.Environment()


@pytest.fixture
def fabric(env, topo) -> SipFabric:
    return SipFabric(env, topo)


def run_all(env: simpy.Environment, procs: list) -> list:
    """Run the environment to the end and return the processes' values (TransferTiming records)."""
    env.run()
    return [p.value for p in procs]
