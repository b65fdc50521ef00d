"""`Completion.of` fills a frozen instance without its generated __init__: it must set exactly the fields."""

import dataclasses

import numpy as np

from kernbench.components import HopTrace
from kernbench.engine.completion import Completion, Ledger


def test_of_builds_what_the_constructor_builds():
    ledger = Ledger(10.0, 1.0, 2.0, 3.0, 4.0, [HopTrace("sip0.a", 10.0, 12.0, 0.5)])
    data = np.arange(4, dtype=np.uint8)
    made = Completion.of("PeDmaMsg", 3, 7, ledger, 30.0, 4, data, {"k": 1})
    names = [f.name for f in dataclasses.fields(Completion)]
    assert sorted(vars(made)) == sorted(names)
    built = Completion(**{name: getattr(made, name) for name in names})
    assert repr(made) == repr(built)
    assert (made.start_ns, made.end_ns, made.latency_ns, made.hops) == (10.0, 30.0, 20.0, tuple(ledger.hops))
    assert made.serialization_ns == 20.0 - 1.0 - 2.0 - 3.0 - 4.0
    assert Completion.of("MmuMapMsg", 0, 1, Ledger(0.0, hops=None), 5.0, 0).hops == ()
