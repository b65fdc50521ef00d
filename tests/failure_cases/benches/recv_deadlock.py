"""Every SIP's kernel receives from its east neighbour, which sends nothing: each waits for ever."""

from kernbench.runtime import DPPolicy


def receive(_ptr, tl):
    tl.recv("E", (4,), "f32")


def run(torch):
    torch.distributed.init_process_group("ahbm")
    t = torch.zeros((16,), "f32", dp=DPPolicy(num_cubes=1, num_pes=1))
    torch.launch("receive", receive, t)
    return {"checks": {"ran": True}}
