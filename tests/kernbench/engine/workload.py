"""A busy mixed workload on a ring of SIPs, shared by the determinism and the MPI tests.

Every SIP's host writes a block into its TCM, its PE DMAs it to the next SIP's HBM and reads the previous SIP's
HBM block back into SRAM, all at once (so streams contend on links and SerDes), then reads it to the host.
"""

import numpy as np

from kernbench.engine import MemoryReadMsg, MemoryWriteMsg, PeDmaMsg
from kernbench.topology import PhysAddr, Topology

BLOCK = 40_000


def block(sip: int) -> np.ndarray:
    return np.random.default_rng(sip).integers(0, 256, BLOCK, dtype=np.uint8)


def hosts(topo: Topology, read_back: dict) -> dict:
    """Host code per SIP; ``read_back[sip]`` gets the bytes each SIP's host finally read (where it ran)."""
    n = topo.sip_count

    def host(eng, sip):
        nxt, prev = (sip + 1) % n, (sip - 1) % n
        eng.wait(eng.submit(MemoryWriteMsg(PhysAddr.tcm(sip, 0, 0, 0), data=block(sip))))
        eng.sleep_until(5_000.0)  # every SIP has staged its block
        push = eng.submit(PeDmaMsg(sip, 0, 0, PhysAddr.tcm(sip, 0, 0, 0), PhysAddr.hbm(nxt, 1, 0), BLOCK))
        eng.wait(push)
        eng.sleep_until(20_000.0)  # every push has landed
        pulls = [
            eng.submit(PeDmaMsg(sip, c, 1, PhysAddr.hbm(prev, 1, 0), PhysAddr.sram(sip, c, 0), BLOCK)) for c in (2, 3)
        ]
        for handle in pulls:
            eng.wait(handle)
        read_back[sip] = eng.wait(eng.submit(MemoryReadMsg(PhysAddr.sram(sip, 3, 0), BLOCK))).data

    return {sip: host for sip in range(n)}
