from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from kernbench.engine import Engine
from kernbench.topology import Topology, load_topology

DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[3] / "topology.yaml"


@pytest.fixture(scope="session")
def topo() -> Topology:
    """The default topology.yaml; the closed-form tests write its numbers out from these fields."""
    return load_topology(DEFAULT_TOPOLOGY)


def with_sips(topo: Topology, count: int, topology: str = "ring_1d") -> Topology:
    """The default topology with another SIP count / SIP topology."""
    return replace(topo, system=replace(topo.system, sip_count=count, topology=topology))


def run_hosts(topo: Topology, hosts: dict[int, Callable], **engine_kwargs):
    """Run ``hosts[sip](engine, sip)`` as host code on each given SIP; return (engine, RunResult)."""
    engine = Engine(topo, **engine_kwargs)
    for sip, fn in hosts.items():
        if engine.is_local(sip):
            engine.spawn(sip, lambda s, f=fn: f(engine, s))
    return engine, engine.run()
