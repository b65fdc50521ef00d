"""The process group's barrier: a dissemination barrier between the SIP leaders that releases every rank at once
(docs/adr/0019).

Along each dimension of the SIP grid in turn (rows, then columns; one line of every rank when the ranks do not
fill the grid), round ``k`` has each rank send a token to the rank ``2^k`` further along and wait for the one from
the rank ``2^k`` before it (wrapping). After the rows' ceil(log2 w) rounds a rank has heard, directly or through
others, from its whole row; after the columns' from everyone, so none can leave before the last has arrived. A
token travels the routed SIP-to-SIP path (the SIPs between forward it SerDes to SerDes): a round costs its
distance in links, not a hop per rank in between.

The tokens carry the latest arrival seen (the host's call time, integer picoseconds), so after the last round
every rank knows when the last rank arrived. Each then leaves at that instant plus `release_delay_ns`, the
barrier's own latency when nothing else is in its way (launch, and each round's slowest token, in the closed forms
of `kernbench.ccl.model`): a timer release, as on systems whose chips share a clock. So ranks leave together even
when they arrived apart (after an uneven collective), and what a collective is timed from is one instant. Should
a token be later than that (traffic of an asynchronous collective in its way), its rank leaves when it has it.

The queues are installed with the process group (`kernbench.runtime.distributed.process_group_plans`, topology
``dissemination``): direction ``bar_x<k>`` (``bar_y<k>``) sends along the row (column) and receives from the other
side, into two 64-byte slots per round in the PE's barrier area of its TCM (`kernbench.topology.reserved.SYNC_AREA`),
so the collectives' rings never crowd them out. Consecutive barriers stay apart by IPCQ's order: the tokens of one
direction arrive in the order they were sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from kernbench.ccl.model import LEADER, Hardware, Pe
from kernbench.ccl.topologies import CclGeometry, dissemination_grid
from kernbench.kernels import TLBase
from kernbench.topology import NONE_DOWN, Down, Topology, sip_route

PREFIX = "bar_"
"""Direction prefix of the barrier's queues in an install plan."""
SLOTS = 2
SLOT_BYTES = 64
TOKEN = (1,)
"""One i64: the latest arrival a round's message knows of, in picoseconds."""
TOKEN_BYTES = 8
CREDIT_BYTES = 16
"""The credit that frees a barrier slot (the process group's ``ipcq_credit_size_bytes``, ccl.yaml's default)."""
PS_PER_NS = 1000


def directions(geometry: CclGeometry) -> tuple[str, ...]:
    """The barrier's directions in the order its rounds run."""
    width, height = dissemination_grid(geometry)
    rows = [f"{PREFIX}x{k}" for k in range((width - 1).bit_length())]
    return (*rows, *(f"{PREFIX}y{k}" for k in range((height - 1).bit_length())))


def release_delay_ns(
    topo: Topology,
    geometry: CclGeometry,
    members: Sequence[int] | None = None,
    pes: Sequence[Pe] | None = None,
    down: Down = NONE_DOWN,
) -> float:
    """From a rank's call until it may leave, when every rank calls at once and nothing is in the tokens' way:
    the launch, the token made, then each round's slowest token (its send issued, the hop over that round's
    longest route, read, combined); after the last, its slot's credit on its way out (a PE is done when its
    credits have left) if that takes longer than the combine. ``members`` / ``pes``: each rank's SIP and the PE
    it runs the barrier on (a process group's; default every SIP's leader PE); ``down``: the links a what-if
    scenario has down (routes go round them; its slower SIPs and links are not counted, so their tokens may be
    later than this and release their ranks when they come)."""
    hw = Hardware(topo)
    places = sorted(set(pes or [LEADER]))
    token = hw.combine_ns(1)
    total = max(hw.launch_ns([pe]) for pe in places) + token
    links = round_links(topo, geometry, members, down)
    for hop in links:
        total += hw.issue_ns + max(hw.sip_hop_ns(hop, TOKEN_BYTES, pe) for pe in places)
        total += hw.read_ns(TOKEN_BYTES) + token
    if links:
        total += max(0.0, max(hw.send_out_ns(CREDIT_BYTES, pe) for pe in places) - token)
    return total + max(hw.done_ns(pe) for pe in places) - hw.done_ns(places[0])


def round_links(
    topo: Topology, geometry: CclGeometry, members: Sequence[int] | None = None, down: Down = NONE_DOWN
) -> list[int]:
    """Each round's longest route in inter-SIP links, over every rank: in closed form on a full grid of every
    SIP (the shorter way round where the topology wraps, else the longer of the two ways a shift goes), else
    route by route (``members``: each rank's SIP, for a process group; ``down``: links that are down)."""
    width, height = dissemination_grid(geometry)
    wraps = topo.system.topology != "mesh_2d_no_wrap"
    sips = list(range(geometry.world_size)) if members is None else list(members)
    full = (width, height) == geometry.sip_grid and sips == list(range(topo.sip_count)) and not down
    out = []
    for size, stride in ((width, 1), (height, width)):
        for k in range((size - 1).bit_length()):
            step = (1 << k) % size
            if full:
                out.append(min(step, size - step) if wraps else max(step, size - step))
            else:
                out.append(
                    max(
                        len(sip_route(topo.system, sips[r], sips[_shift(r, step, size, stride)], down))
                        for r in range(len(sips))
                    )
                )
    return out


def _shift(rank: int, step: int, size: int, stride: int) -> int:
    """The rank ``step`` further along ``rank``'s row (``stride`` 1) or column (``stride`` the row's width)."""
    pos = rank // stride % size
    return rank + ((pos + step) % size - pos) * stride


def kernel(tl: TLBase, *, rounds: tuple[str, ...], arrive_ps: int, delay_ns: float) -> None:
    """One barrier on the leader PE: each round's token (the latest arrival seen) sent, then the round's token
    awaited and folded in; then leave ``delay_ns`` after the latest arrival of all."""
    latest = tl.zeros(TOKEN, "i64") + arrive_ps
    sends = []
    for direction in rounds:
        sends.append(tl.send_async(direction, latest))
        latest = tl.maximum(latest, tl.recv(direction, TOKEN, "i64"))
    for handle in sends:
        tl.wait(handle)
    tl.wait_until(int(latest.value[0]) / PS_PER_NS + delay_ns)
