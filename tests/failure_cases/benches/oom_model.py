"""Host code on the last SIP asks its model to fill 8 GiB of HBM: the model's memories run out of memory."""

from kernbench.engine import MemoryWriteMsg
from kernbench.topology import PhysAddr


def run(torch):
    sip = torch.current_device()
    if sip == torch.topo.sip_count - 1:
        eng = torch.engine
        eng.wait(eng.submit(MemoryWriteMsg(PhysAddr.hbm(sip, 0, 0), nbytes=8 << 30, fill=1)))
    return {"checks": {"ran": True}}
