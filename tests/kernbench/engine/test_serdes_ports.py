"""Each inter-SIP link has its own SerDes port: a SIP streams to two neighbours at once at both links' full rate.

Before, one port on the IO chiplet served all of a SIP's links, so two streams shared one link's bandwidth (a
torus SIP with four 100 GB/s links could not send more than 100 GB/s in all). The two copies start on PEs of
different cube rows: each reaches the IO chiplet by its own UCIe link and router, as the SIP's collectives do
(a PE's own DMA port serves one transfer at a time; two large copies from one PE take their turns there).
"""

import pytest

from kernbench.engine import PeDmaMsg
from kernbench.topology import PhysAddr
from tests.kernbench.helpers import with_sips

from .conftest import run_hosts

MIB = 1 << 20
SIP = 5  # on a 4x4 torus: east is sip6, south is sip9
COPIES = {  # direction -> (source PE (cube, pe), destination SIP)
    "E": ((0, 0), 6),
    "S": ((4, 0), 9),
}


def copy_ns(topo, directions: tuple[str, ...], nbytes: int = 8 * MIB) -> dict[str, float]:
    """Start one ``nbytes`` copy per direction at once on SIP 5 (TCM -> the neighbour's HBM); each one's time."""
    took: dict[str, float] = {}

    def host(eng, _sip):
        handles = {}
        for d in directions:
            (cube, pe), dst = COPIES[d]
            src = PhysAddr.tcm(SIP, cube, pe, 0)
            handles[d] = eng.submit(PeDmaMsg(SIP, cube, pe, src, PhysAddr.hbm(dst, 0, 0), nbytes))
        for d, handle in handles.items():
            done = eng.wait(handle)
            took[d] = done.end_ns - done.start_ns

    run_hosts(with_sips(topo, 16, "torus_2d"), {SIP: host})
    return took


@pytest.mark.parametrize("direction", ["E", "S"])
def test_two_links_at_once_each_run_at_their_own_rate(topo, direction):
    alone = copy_ns(topo, (direction,))[direction]
    both = copy_ns(topo, ("E", "S"))[direction]
    assert both <= 1.01 * alone  # was ~2x: the second stream queued behind the first at the shared port
    assert 8 * MIB / alone > 90.0  # close to the link's 100 GB/s alone
