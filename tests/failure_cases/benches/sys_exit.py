"""Host code that calls sys.exit(3) on SIP 1; SIP 0 passes."""

import sys


def run(torch):
    if torch.current_device() == 1:
        sys.exit(3)
    return {"checks": {"ran": True}}
