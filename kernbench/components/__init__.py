"""The components and timing layer: links with bandwidth occupancy, memories with real bytes, one SIP's fabric.

SimPy models below the engine and above the topology: they import `kernbench.topology` and `pdes.clock` only. Times are
ns as floats, bandwidths GB/s (= bytes per ns). The timing model is in `kernbench.components.link`; the HBM
decisions in `kernbench.components.hbm`; which links a SIP has in `kernbench.components.cube`,
`kernbench.components.iochip` and `kernbench.components.fabric`.
"""

from kernbench.components.cube import Cube
from kernbench.components.fabric import Endpoint, SipFabric, link_names
from kernbench.components.hbm import HbmController
from kernbench.components.host import HostPort
from kernbench.components.iochip import HUB_ROUTER, IoChiplet
from kernbench.components.link import Fanout, Flow, HopTrace, Link, Stage, TransferTiming, transfer
from kernbench.components.memory import PAGE_BYTES, Memory

__all__ = [
    "HUB_ROUTER",
    "PAGE_BYTES",
    "Cube",
    "Endpoint",
    "Fanout",
    "Flow",
    "HbmController",
    "HopTrace",
    "HostPort",
    "IoChiplet",
    "Link",
    "Memory",
    "SipFabric",
    "Stage",
    "TransferTiming",
    "link_names",
    "transfer",
]
