from collections.abc import Callable

from kernbench.engine import Engine
from kernbench.topology import Topology


def run_hosts(topo: Topology, hosts: dict[int, Callable], **engine_kwargs):
    """Run ``hosts[sip](engine, sip)`` as host code on each given SIP; return (engine, RunResult)."""
    engine = Engine(topo, **engine_kwargs)
    for sip, fn in hosts.items():
        if engine.is_local(sip):
            engine.spawn(sip, lambda s, f=fn: f(engine, s))
    return engine, engine.run()
