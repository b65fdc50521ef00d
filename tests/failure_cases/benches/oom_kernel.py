"""A kernel allocates 16 GiB at once on cube 0 PE 0."""

import numpy as np

from kernbench.runtime import DPPolicy


def hog(_ptr, _tl):
    np.ones(1 << 31)


def run(torch):
    t = torch.zeros((16,), "f32", dp=DPPolicy(num_cubes=1, num_pes=1))
    torch.launch("hog", hog, t)
    return {"checks": {"ran": True}}
