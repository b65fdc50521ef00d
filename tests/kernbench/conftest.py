import pytest

from kernbench.topology import Topology, load_topology
from tests.kernbench.helpers import DEFAULT_TOPOLOGY


@pytest.fixture(scope="session")
def topo() -> Topology:
    """The default topology.yaml (2 SIPs x 16 cubes x 8 PEs); closed-form tests write its numbers out from it."""
    return load_topology(DEFAULT_TOPOLOGY)
