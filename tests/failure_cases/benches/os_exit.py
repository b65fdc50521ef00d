"""Host code of SIP 1 ends its process with os._exit(0) before any report."""

import os


def run(torch):
    if torch.current_device() == 1:
        os._exit(0)
    return {"checks": {"ran": True}}
