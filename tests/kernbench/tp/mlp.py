"""The tp_mlp bench's MLP (x @ W1 @ W2, W1 column-split, W2 row-split over the ranks), spawned on a chosen engine."""

from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from tests.kernbench.helpers import load_script

BENCH = load_script("kernbench/benches/tp_mlp.py")


def spawn_mlp(topo, **engine_kwargs) -> dict:
    """Every rank's ``{"y": its output, "ns": its simulated time}`` from the bench's own worker."""
    torch = RuntimeContext(Engine(topo, **engine_kwargs))
    torch.multiprocessing.spawn(BENCH.worker, args=(torch,))
    return torch.multiprocessing.results
