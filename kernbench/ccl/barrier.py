"""The process group's barrier: a dissemination barrier between the SIP leaders (docs/adr/0019).

Along each dimension of the SIP grid in turn (rows, then columns; one line of every rank when the ranks do not
fill the grid), round ``k`` has each rank send a token to the rank ``2^k`` further along and wait for the one from
the rank ``2^k`` before it (wrapping). After the rows' ceil(log2 w) rounds a rank has heard, directly or through
others, from its whole row; after the columns' from everyone. So none leaves before the last has arrived, and as a
round crosses the same number of links from every rank of a ring or torus, ranks that arrive together leave
together. A token travels the routed SIP-to-SIP path (the SIPs between forward it SerDes to SerDes): a round costs
its distance in links, not a hop per rank in between.

The queues are installed with the process group (`kernbench.runtime.distributed.process_group_plans`, topology
``dissemination``): direction ``bar_x<k>`` (``bar_y<k>``) sends along the row (column) and receives from the other
side, into two 64-byte slots per round in the PE's barrier area of its TCM (`kernbench.topology.reserved.SYNC_AREA`),
so the collectives' rings never crowd them out. Consecutive barriers stay apart by IPCQ's order: the tokens of one
direction arrive in the order they were sent.
"""

from __future__ import annotations

from kernbench.ccl.topologies import CclGeometry, dissemination_grid
from kernbench.kernels import TLBase

PREFIX = "bar_"
"""Direction prefix of the barrier's queues in an install plan."""
SLOTS = 2
SLOT_BYTES = 64
TOKEN = (1,)
"""One f32: what a round's message carries (its value is not looked at)."""


def directions(geometry: CclGeometry) -> tuple[str, ...]:
    """The barrier's directions in the order its rounds run."""
    width, height = dissemination_grid(geometry)
    rows = [f"{PREFIX}x{k}" for k in range((width - 1).bit_length())]
    return (*rows, *(f"{PREFIX}y{k}" for k in range((height - 1).bit_length())))


def kernel(tl: TLBase, *, rounds: tuple[str, ...]) -> None:
    """One barrier on the leader PE: each round's token sent, then the round's token awaited."""
    token = tl.zeros(TOKEN, "f32")
    sends = []
    for direction in rounds:
        sends.append(tl.send_async(direction, token))
        tl.recv(direction, TOKEN, "f32")
    for handle in sends:
        tl.wait(handle)
