import pytest
import simpy

from kernbench.components import SipFabric


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
