"""pdes: a conservative parallel discrete-event simulation engine on SimPy and MPI.

Every logical process (LP) is a SimPy environment; LPs exchange timestamped
messages over links whose latency is the lookahead. Ranks synchronise with
null messages (or windows); results are identical for any number of ranks.

Under an MPI launcher, importing pdes installs the abort hook (`pdes.abort`): an uncaught exception on any rank
ends the whole job, printed once, instead of leaving the other ranks blocked. ``PDES_NO_ABORT_HOOK=1`` opts out.
"""

from . import thread_pools  # noqa: F401 (first, before anything loads numpy: it sizes the BLAS threads)
from .abort import install as install_abort_hook
from .clock import LPEnvironment, schedule_at
from .codec import CodecError
from .errors import ModelError, PdesError, RemoteError, SimulationDeadlock
from .lp import LP, Message
from .model import Link, Model
from .partition import Partition
from .simulation import RunResult, Simulation

install_abort_hook()

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
    "install_abort_hook",
    "schedule_at",
]
