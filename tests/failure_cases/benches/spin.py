"""Host code of SIP 0 says it runs (touches $KERNBENCH_TEST_READY), then computes for ever."""

import os
from pathlib import Path


def run(torch):
    if torch.current_device() == 0:
        Path(os.environ["KERNBENCH_TEST_READY"]).touch()
        while True:
            sum(range(1000))
    return {"checks": {"ran": True}}
