from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.topology import Topology


def on_sip(topo: Topology, body, sip: int = 0, **engine_kwargs):
    """Run ``body(torch)`` as host code on ``sip``; return (its value, the RunResult)."""
    engine = Engine(topo, **engine_kwargs)
    torch = RuntimeContext(engine)
    if engine.is_local(sip):
        engine.spawn(sip, lambda _s: body(torch), name="body")
    result = engine.run()
    return result.workers.get("body"), result
