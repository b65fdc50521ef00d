"""Simulated time of every non-ring all-reduce, pinned to the value its kernel's structure gives on the topology.

Each algorithm's time is its own alpha-beta model: the IPCQ hops on its critical path, each ``a + s/B`` (the
inter-SIP link's latency, a piece of ``s`` bytes at the slowest bandwidth on the way) plus the hop's fixed costs
(`ipcq_hop_ns`: DMA command, crossbar, UCIe and router overheads, wires), plus the PE work between hops. With one
slot-size piece per tile (4 KiB and 32 KiB here, both within a slot) the kernels never pipeline, so the path is
a plain sum and the time is pinned exactly; the two sizes keep the per-byte and the fixed costs apart.

What is timed: the algorithm's exchange between the SIPs. The launch, the loads and stores, and the reduce and
broadcast inside each SIP (hierarchical, intercube) are the same on one SIP, where the exchange is empty, so that
run is measured and subtracted: the exchange starts when the SIP's own reduction is done, on every SIP at once,
and the broadcast inside the SIP starts when it ends. Ranks start together (`time_allreduce`): the bench's
barrier lets them go a link latency or more apart, and its time would carry that skew.

The PE work is read from the topology: ``issue`` (the PE_CPU issues a command: a send; a receive only when its
data is already there, else it is issued while waiting), ``read`` (a received piece read from its ring in the
PE's own TCM) and ``combine`` (the vector unit adds two pieces). The pure alpha-beta part, links x a + hops x s/B,
is 80-91 % of each time (default topology): the rest is each hop's fixed cost (54.24 ns between cube 0 leaders,
96.8 from the root cube of intercube) and 25-79 ns of PE work per hop.
"""

from dataclasses import dataclass
from functools import cache

import pytest

from kernbench.kernels.handle import FLOPS_PER_ELEMENT
from kernbench.topology import Topology, load_topology
from tests.kernbench.closed_forms import ipcq_hop_ns
from tests.kernbench.helpers import DEFAULT_TOPOLOGY

from .bench_runner import small_system, time_allreduce

SIZES = (1024, 8192)
"""f32 elements per shard: 4 KiB and 32 KiB, one piece each (slots of 64 KiB, 32 KiB for hierarchical and
intercube)."""

ITEM = 4  # bytes per f32


@dataclass(frozen=True)
class Step:
    """What the PE does around one IPCQ hop of an ``n``-element f32 piece on ``topo``."""

    issue: float  # the PE_CPU issues a command
    read: float  # the received piece read from the ring in the PE's TCM
    combine: float  # issue, dispatch and the vector add of two pieces

    @classmethod
    def of(cls, topo: Topology, n: int) -> "Step":
        pe = topo.pe
        issue = pe.pe_cpu.overhead_ns
        read = pe.pe_tcm.access_ns + n * ITEM / pe.pe_tcm.bandwidth_gbs
        add = pe.scheduler.overhead_ns + pe.pe_math.overhead_ns + n * FLOPS_PER_ELEMENT["add"] / pe.pe_math.flops_per_ns
        return cls(issue, read, issue + add)

    def pass_along_pair(self, hop: float) -> float:
        """A line of two SIPs with a link between its ends (`ring_pass_along`, one step): each sends its tile
        (asynchronous), receives the other's and adds the two."""
        return self.issue + hop + self.read + self.combine

    def chain_pair(self, hop: float) -> float:
        """A line of two SIPs without wrap (`chain_links`: reduce to the last, broadcast back), as the two-rank
        binary tree: the first sends its tile, the second adds it to its own and sends the sum back."""
        return 2 * (self.issue + hop + self.read) + self.combine


@cache
def exchange_ns(algorithm: str, sips: int, kind: str, n: int) -> float:
    """The measured all-reduce time less its one-SIP time (cached: the one-SIP runs are shared)."""
    topo = load_topology(DEFAULT_TOPOLOGY)
    took = time_allreduce(small_system(topo, sips, kind), algorithm, n)
    return took - time_allreduce(small_system(topo, 1, "ring_1d"), algorithm, n)


def tree(step: Step, hop: float, sips: int) -> float:
    """Binary tree in heap order (rank r's children 2r + 1, 2r + 2), tiles sent with blocking sends.

    2 SIPs: one hop up, one down. 4 SIPs: the deepest leaf, rank 3, is the left child of rank 1, the root's left
    child, so the path 3 -> 1 -> 0 -> 1 -> 3 is 2 x depth = 4 hops, each a send issued, the hop, the piece read.
    On the way up rank 1 adds rank 3's piece and the root adds both children's: it waits for the left one (two
    hops away) and then issues the receive of the right one, already there (one hop away), so that issue and
    read are on the path too. On the way down each node sends to its left child first: the right child's send
    comes after, off the path.
    """
    if sips == 2:
        return step.chain_pair(hop)
    return 4 * (step.issue + hop + step.read) + step.issue + step.read + 3 * step.combine


def hierarchical_ring_of_4(topo: Topology, step: Step, piece: int) -> float:
    """The SIP leaders' one-way ring of 4 in rank order on the 2x2 grid, 0 -> 1 -> 2 -> 3 -> 0: 1 -> 2 and
    3 -> 0 are diagonals, two links each (XY route; the SIP between, 0 and 2, forwards the stream). Each leader
    sends its tile, forwards each piece as it arrives (read, send issued), then adds the three it got. Rank 0's
    last piece, rank 1's tile, comes over 1 -> 2 -> 3 -> 0: two diagonals and a straight hop.

    Each direction of a SIP's links has its own SerDes port (`kernbench.components.iochip`): SIP 2's own sends
    to 3 leave east while the pieces it forwards from 3 to 0 leave north, so nothing queues and rank 0's last
    piece costs the three hops alone.
    """
    straight, diagonal = ipcq_hop_ns(topo, piece), ipcq_hop_ns(topo, piece, links=2)
    return straight + 2 * diagonal + 3 * (step.issue + step.read + step.combine)


CASES = [  # (algorithm, SIPs, SIP topology)
    ("tree_allreduce", 2, "ring_1d"),
    ("tree_allreduce", 4, "torus_2d"),
    ("mesh_allreduce", 2, "ring_1d"),
    ("mesh_allreduce", 4, "torus_2d"),
    ("mesh_allreduce_no_wrap", 2, "ring_1d"),
    ("mesh_allreduce_no_wrap", 4, "torus_2d"),
    ("hierarchical_allreduce", 2, "ring_1d"),
    ("hierarchical_allreduce", 4, "torus_2d"),
    ("intercube_allreduce", 2, "ring_1d"),
    ("intercube_allreduce", 4, "torus_2d"),
    ("intercube_allreduce", 4, "mesh_2d_no_wrap"),
]


def model_ns(algorithm: str, sips: int, kind: str, n: int) -> float:
    """The exchange's time from the kernel's structure and the topology (see each branch)."""
    topo = small_system(load_topology(DEFAULT_TOPOLOGY), sips, kind)
    step, piece = Step.of(topo, n), n * ITEM
    hop = ipcq_hop_ns(topo, piece)  # between the SIP leaders (cube 0, PE 0) of neighbouring SIPs
    lines = 1 if sips == 2 else 2  # the SIPs' grid: 2 -> 2x1, 4 -> 2x2, a line of two per dimension
    if algorithm == "tree_allreduce":
        return tree(step, hop, sips)
    if algorithm == "mesh_allreduce":  # rows then columns, each line a ring (torus_2d): pass along
        return lines * step.pass_along_pair(hop)
    if algorithm == "mesh_allreduce_no_wrap":  # rows then columns, each line a chain: reduce, broadcast back
        return lines * step.chain_pair(hop)
    if algorithm == "hierarchical_allreduce":
        if sips == 2:  # the SIP leaders pass tiles along ``parent``: a ring of two
            return step.pass_along_pair(hop)
        return hierarchical_ring_of_4(topo, step, piece)
    # intercube: the root cubes (the last cube of each SIP, the SE corner) exchange along the SIP grid's rows and
    # columns, passing tiles along where the SIP topology wraps and reducing along a chain where it does not
    root_hop = ipcq_hop_ns(topo, piece, cube=topo.sip.cube_mesh.n_cubes - 1)
    pair = step.pass_along_pair if kind != "mesh_2d_no_wrap" else step.chain_pair
    return lines * pair(root_hop)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(("algorithm", "sips", "kind"), CASES, ids=[f"{a}-{k}-{s}" for a, s, k in CASES])
def test_non_ring_allreduce_time_is_its_alpha_beta_model(algorithm, sips, kind, n):
    assert exchange_ns(algorithm, sips, kind, n) == pytest.approx(model_ns(algorithm, sips, kind, n), abs=1e-6)
