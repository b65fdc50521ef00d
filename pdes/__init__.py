"""pdes: a conservative parallel discrete-event simulation engine on SimPy and MPI.

Every logical process (LP) is a SimPy environment; LPs exchange timestamped
messages over links whose latency is the lookahead. Ranks synchronise with
null messages (or windows); results are identical for any number of ranks.
"""

from .clock import LPEnvironment, schedule_at
from .codec import CodecError
from .errors import ModelError, PdesError, RemoteError, SimulationDeadlock
from .lp import LP, Message
from .model import Link, Model
from .partition import Partition
from .simulation import RunResult, Simulation

__all__ = [
    "LP",
    "CodecError",
    "LPEnvironment",
    "Link",
    "Message",
    "Model",
    "ModelError",
    "Partition",
    "PdesError",
    "RemoteError",
    "RunResult",
    "Simulation",
    "SimulationDeadlock",
    "schedule_at",
]
