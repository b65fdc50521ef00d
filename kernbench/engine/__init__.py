"""The engine layer: the accelerator system as a parallel discrete-event model on `pdes`.

One pdes LP per SIP (`SipModel`), inter-SIP links as pdes links whose latency is the lookahead, host code in
pdes host workers that `Engine.submit` request messages and `Engine.wait` for their `Completion`.
"""

from kernbench.engine.completion import Completion, Handle, Ledger
from kernbench.engine.ipcq import (
    BUFFER_KINDS,
    SYNC_BUFFER,
    IpcqDeadlock,
    IpcqError,
    IpcqUnit,
    QueueSpec,
    ring_region,
    ring_region_bytes,
)
from kernbench.engine.messages import (
    HEADER_BYTES,
    IpcqInitMsg,
    KernelLaunchMsg,
    MemoryReadMsg,
    MemoryWriteMsg,
    MmuMapMsg,
    MmuUnmapMsg,
    PeDmaMsg,
    Request,
)
from kernbench.engine.mmu import PageTable, TranslationError
from kernbench.engine.pe import KernelError, PeContext
from kernbench.engine.sip import SipModel, endpoint
from kernbench.engine.system import Engine, lp_name

__all__ = [
    "BUFFER_KINDS",
    "HEADER_BYTES",
    "SYNC_BUFFER",
    "Completion",
    "Engine",
    "Handle",
    "IpcqDeadlock",
    "IpcqError",
    "IpcqInitMsg",
    "IpcqUnit",
    "KernelError",
    "KernelLaunchMsg",
    "Ledger",
    "MemoryReadMsg",
    "MemoryWriteMsg",
    "MmuMapMsg",
    "MmuUnmapMsg",
    "PageTable",
    "PeContext",
    "PeDmaMsg",
    "QueueSpec",
    "Request",
    "SipModel",
    "TranslationError",
    "endpoint",
    "lp_name",
    "ring_region",
    "ring_region_bytes",
]
