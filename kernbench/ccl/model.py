"""The analytical reference: every collective's time in closed form, from the topology (docs/adr/0024).

Each time the simulator prints for a collective has this reference beside it (`kernbench ccl-perf`'s ``model_us``
and ``sim_over_model``, ``scripts/validate_ccl.py``). It is an alpha-beta-gamma model written from each algorithm's
structure, not a replay of the simulation: no event runs, nothing queues. What it takes from the system is the
hardware's description: each route's fixed cost (ports, arbitration, wires, link latencies) and its slowest stage,
summed the way an uncontended cut-through stream pays them (`kernbench.components.link`), and the PE's command
costs (``pe_cpu``, ``pe_dma``, ``pe_math``, ``pe_mmu``, ``pe_tcm``).

The terms, for a piece of ``s`` bytes (at most one IPCQ slot):

- ``alpha`` (`Step.alpha`): a piece's step latency, from the sender issuing it to the receiver holding it (and,
  where the algorithm combines, the sum made): the send's issue, the DMA command, the route PE -> SerDes -> the
  links (the SIPs between forward it SerDes to SerDes) -> the receive ring, the slot read into staging, the
  combine.
- ``beta`` (`Step.beta`): a piece's occupancy of what it queues on most: the inter-SIP link (``s / B``, times the
  lanes that share it), the PE's ports (loads, landing pieces and stores share them), or the PE's issue loop.
  Blocking sends (trees, broadcast) add the send's own time to the loop.
- ``gamma``: the vector unit's time per element (``pe_math.flops_per_ns``), inside a combine.

A pipeline of steps of ``m`` pieces (`pipeline_ns`) takes ``sum over steps but the last of max(m beta_k,
alpha_k)``, plus ``m beta + alpha - beta`` for the last: bandwidth-bound, a link is always busy; latency-bound,
each step waits for its first piece. A window of ``w`` slots caps a ring's rate at ``w / 2`` pieces per ``alpha``
(sends run half a window ahead of receives). A collective adds the kernel launch (host -> IO_CPU -> M_CPU -> PEs),
the loads of its inputs and the stores of its results that are on its critical path, and the completion header
back to the host.

Under a what-if scenario (`kernbench.scenario`) routes go around the links down from the start and a degraded link
counts as that many more streams sharing it (a link at a quarter of the rate: four), so a ring runs at its slowest
link's pace; slower SIPs and jitter are not in the reference (the PE's costs are the topology's).

Not modelled: contention between flows that share a link or a port beyond the PE's own (none on the shipped
topologies' ring and grid algorithms; `hierarchical_allreduce`'s PE rings share the cube's crossbar), and a FIFO
port's head-of-line wait inside a pipeline. docs/validation.md says where these show.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import simpy

from kernbench.ccl.algorithms.common import BLOCK_BYTES, chain_links, even_bounds, nest, ring_links
from kernbench.ccl.config import AlgorithmConfig
from kernbench.ccl.mappers import resolve_mapper
from kernbench.ccl.ring import streams
from kernbench.ccl.topologies import CclGeometry, grid_dims
from kernbench.components import HostPort, Link, SipFabric, Stage
from kernbench.components.fabric import Endpoint
from kernbench.engine import HEADER_BYTES
from kernbench.kernels import itemsize
from kernbench.kernels.handle import FLOPS_PER_ELEMENT
from kernbench.scenario import NO_SCENARIO, Scenario
from kernbench.topology import Topology, links_from, sip_route

Pe = tuple[int, int]
"""(cube, pe) inside a SIP."""
LEADER: Pe = (0, 0)
"""Where the ring collectives and the SIP-to-SIP algorithms run on each SIP."""


def route_ns(stages: Sequence[Stage], nbytes: int) -> float:
    """An uncontended cut-through stream of ``nbytes`` over ``stages``: every fixed cost once, the bytes at the
    slowest stage's rate (a fan-out: its slowest branch's share)."""
    fixed = slowest = 0.0
    for stage in stages:
        if isinstance(stage, Link):
            fixed += stage.overhead_ns + stage.wire_ns
            slowest = max(slowest, nbytes / stage.bandwidth_gbs)
        else:
            first = stage.branches[0][0]
            fixed += first.overhead_ns + first.wire_ns
            slowest = max(slowest, max(share / link.bandwidth_gbs for link, share in stage.branches))
    return fixed + slowest


def pipeline_ns(
    alphas: Sequence[float], betas: Sequence[float], pieces: int, rate: float = 0.0, lanes: int = 1
) -> float:
    """Ring steps of ``pieces`` pieces each, every step through the same link: step ``k``'s first piece can go
    once step ``k - 1``'s has arrived (``alphas[k - 1]`` after it left), and a step's pieces follow each other
    ``betas[k]`` apart; and, over all steps, no faster than one piece per ``rate`` (the slowest rank of a ring,
    which every rank's stream waits for). ``lanes`` rings sharing the link interleave their pieces: the last
    lane's last piece leaves a lane's share of a piece time before the step ends. 0 for no steps."""
    if not alphas or pieces <= 0:
        return 0.0
    head = sum(max(pieces * beta, alpha) for alpha, beta in zip(alphas[:-1], betas[:-1], strict=True))
    beta = max(betas[-1], rate)
    return max(head, (len(alphas) - 1) * pieces * rate) + pieces * beta + alphas[-1] - beta / lanes


def chain_ns(alphas: Sequence[float], cycle: float, pieces: int) -> float:
    """Pieces down a chain of hops, each through its own link and node: the first piece pays every hop's
    ``alpha``, the others follow one node ``cycle`` apart (the slowest node's time per piece)."""
    return sum(alphas) + max(0, pieces - 1) * cycle if alphas and pieces > 0 else 0.0


class Hardware:
    """What one SIP's parts charge, read from the topology (one SIP's links are built; nothing runs)."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        env = simpy.Environment()
        self.fabric = SipFabric(env, topo, 0)
        self.host = HostPort(env, topo, 0)
        out = links_from(topo.system, 0)
        self.port: Endpoint = ("serdes", out[0].direction if out else "E")
        pe = topo.pe
        self.issue_ns = pe.pe_cpu.overhead_ns
        self.dma_ns = pe.pe_dma.overhead_ns
        self.link_ns = topo.system.inter_sip_link.latency_ns
        self.link_gbs = topo.system.inter_sip_link.bandwidth_gbs
        self.pe_port_gbs = min(pe.pe_dma.bandwidth_gbs, topo.cube.xbar.bandwidth_gbs, pe.pe_tcm.bandwidth_gbs)

    # -- the PE's own work

    def read_ns(self, nbytes: int, ring: str = "tcm", pe: Pe = LEADER) -> float:
        """A received piece read from its receive ring into staging: in the PE's TCM, a local copy; in HBM or
        SRAM, a DMA."""
        if ring != "tcm":
            return self.dma_ns + route_ns(self.fabric.path(_ring_endpoint(ring, pe), ("pe", *pe), nbytes), nbytes)
        tcm = self.topo.pe.pe_tcm
        return tcm.access_ns + nbytes / tcm.bandwidth_gbs

    def combine_ns(self, elements: int) -> float:
        """Issue, dispatch and the vector unit's add of two tiles of ``elements``."""
        pe = self.topo.pe
        flops = elements * FLOPS_PER_ELEMENT["add"]
        return self.issue_ns + pe.scheduler.overhead_ns + pe.pe_math.overhead_ns + flops / pe.pe_math.flops_per_ns

    def translate_ns(self, nbytes: int) -> float:
        """The MMU's translation of a range not seen yet: a TLB lookup per page and one walk."""
        mmu = self.topo.pe.pe_mmu
        return math.ceil(nbytes / mmu.page_bytes) * mmu.tlb_hit_ns + mmu.walk_ns

    def load_ns(self, nbytes: int, pe: Pe = LEADER) -> float:
        """A tile loaded from the PE's share of its cube's HBM: issue, translation, the DMA."""
        cube = pe[0]
        stages = self.fabric.path(("hbm", cube), ("pe", *pe), nbytes)
        return self.issue_ns + self.translate_ns(nbytes) + self.dma_ns + route_ns(stages, nbytes)

    def store_ns(self, nbytes: int, pe: Pe = LEADER) -> float:
        """A tile stored to the PE's share of its cube's HBM (the PE waits for it)."""
        cube = pe[0]
        stages = self.fabric.path(("pe", *pe), ("hbm", cube), nbytes)
        return self.issue_ns + self.translate_ns(nbytes) + self.dma_ns + route_ns(stages, nbytes)

    # -- IPCQ writes

    def sip_hop_ns(self, links: int, nbytes: int, src: Pe = LEADER, ring: str = "tcm") -> float:
        """An IPCQ write from PE ``src``'s TCM into the same PE's receive ring (``ring``: its memory) on the SIP
        ``links`` inter-SIP links away, until it has landed: the DMA command, then one cut-through stream."""
        stages: list[Stage] = list(self.fabric.route(("pe", *src), self.port))
        direction = str(self.port[1])
        through = [self.fabric.io.ingress("serdes", direction), self.fabric.io.egress("serdes", direction)]
        for _ in range(links - 1):
            stages += through
        stages += self.fabric.path(self.port, _ring_endpoint(ring, src), nbytes)
        return self.dma_ns + links * self.link_ns + route_ns(stages, nbytes)

    def chip_hop_ns(self, src: Pe, dst: Pe, nbytes: int) -> float:
        """An IPCQ write from PE ``src``'s TCM into PE ``dst``'s receive ring in its TCM, on one SIP."""
        return self.dma_ns + route_ns(self.fabric.route(("pe", *src), ("pe", *dst)), nbytes)

    def send_out_ns(self, nbytes: int, pe: Pe = LEADER) -> float:
        """A blocking send: until its last byte has left the SIP (the DMA command, PE -> SerDes -> onto the link)."""
        return self.dma_ns + route_ns(self.fabric.route(("pe", *pe), self.port), nbytes)

    # -- a launch

    def launch_ns(self, pes: Sequence[Pe]) -> float:
        """Host -> IO_CPU (a command) -> the M_CPU of each cube -> its PEs, until the PEs start together."""
        fab, cfg = self.fabric, self.topo
        command = route_ns([*self.host.downstream, *fab.route(("pcie",), ("io",))], HEADER_BYTES)
        slowest = 0.0
        for cube in sorted({c for c, _ in pes}):
            to_cube = route_ns(fab.route(("io",), ("m_cpu", cube)), HEADER_BYTES) + cfg.cube.m_cpu.overhead_ns
            for c, pe in pes:
                if c == cube:
                    to_pe = route_ns(fab.route(("m_cpu", cube), ("pe", c, pe)), HEADER_BYTES)
                    slowest = max(slowest, to_cube + to_pe)
        return command + cfg.sip.io_chiplet.io_cpu.overhead_ns + slowest + cfg.pe.pe_cpu.overhead_ns

    def done_ns(self, pe: Pe = LEADER) -> float:
        """The last PE's completion header back to the host."""
        return route_ns([*self.fabric.route(("pe", *pe), ("pcie",)), *self.host.upstream], HEADER_BYTES)


def _ring_endpoint(kind: str, pe: Pe) -> Endpoint:
    return {"tcm": ("pe", *pe), "hbm": ("hbm", pe[0]), "sram": ("sram", pe[0])}[kind]


@dataclass(frozen=True)
class Piece:
    """How a tile of ``elements`` crosses IPCQ: ``pieces`` pieces of at most ``elements_each``."""

    elements: int
    slot_elements: int
    item: int

    @property
    def pieces(self) -> int:
        return math.ceil(self.elements / self.slot_elements) if self.elements else 0

    @property
    def elements_each(self) -> int:
        return min(self.elements, self.slot_elements)

    @property
    def nbytes(self) -> int:
        """A full piece's bytes (what a step's first piece carries)."""
        return self.elements_each * self.item

    @property
    def mean_nbytes(self) -> float:
        """The pieces' mean bytes: the last of a tile is short (what the rate of many pieces goes by)."""
        return self.elements * self.item / self.pieces if self.pieces else 0.0


class CollectiveModel:
    """The reference times (ns, from the release of the barrier before the call to the host seeing it done) of
    the collectives of a process group on ``topo`` whose all-reduce is ``algo`` (under ``scenario``'s links)."""

    def __init__(self, topo: Topology, algo: AlgorithmConfig, world: int, scenario: Scenario = NO_SCENARIO) -> None:
        self.topo, self.algo, self.world, self.scenario = topo, algo, world, scenario
        self.down = scenario.down_at_start
        self.hw = Hardware(topo)
        self.geometry = CclGeometry.of(topo, world)

    def all_reduce_ns(self, elements: int, dtype: str) -> float | None:
        """One ``all_reduce`` of ``elements`` per participating PE (the bench's and ccl-perf's layout), or None
        for an algorithm module the reference does not know. As `Distributed.all_reduce` runs it: in one launch,
        the shard in blocks of at most `BLOCK_BYTES` one after the other unless the algorithm streams."""
        module = self.algo.module.removeprefix(SHIPPED)
        body = ALL_REDUCE.get(module)
        if body is None:
            return None
        pes = _pes(self)
        streams = getattr(self.algo.load_module(), "STREAMS", False)
        block = elements if streams else max(1, BLOCK_BYTES // itemsize(dtype))
        sizes = [min(block, elements - start) for start in range(0, elements, block)] or [0]
        last = LAST_PE.get(module, lambda _m: LEADER)(self)
        return self.hw.launch_ns(pes) + sum(body(self, n, dtype) for n in sizes) + self.hw.done_ns(last)

    @property
    def pes(self) -> list[Pe]:
        return _pes(self)

    # -- shared pieces

    def links(self, src: int, dst: int) -> int:
        """Inter-SIP links from rank ``src`` to rank ``dst`` (rank = SIP), round the links down."""
        return len(sip_route(self.topo.system, src, dst, self.down))

    def share(self, flows: Sequence[tuple[int, int]]) -> float:
        """The most of ``flows`` (rank pairs streaming at once) that cross one direction of one inter-SIP link:
        how many streams that link's bandwidth is divided among (1 when nothing is shared); a degraded link counts
        each stream as many times as it is slower than the topology's rate."""
        load: dict[tuple[int, str], float] = {}
        base = self.topo.system.inter_sip_link.bandwidth_gbs
        for src, dst in flows:
            for link in sip_route(self.topo.system, src, dst, self.down):
                key = (link.src, link.direction)
                load[key] = load.get(key, 0) + base / (self.scenario.rate(link.src, link.dst) or base)
        return max(load.values(), default=1)

    def ring_links(self, step: int, size: int, stride: int = 1, ranks: Sequence[int] | None = None) -> list[int]:
        """Links of each edge ``i -> i + step`` of a ring of ``size`` members (``ranks``: their SIPs)."""
        members = list(range(0, size * stride, stride)) if ranks is None else list(ranks)
        return [self.links(members[i], members[(i + step) % size]) for i in range(size)]

    def ring_pipeline_ns(
        self,
        edges: Sequence[int],
        steps: int,
        piece: Piece,
        *,
        combine_at: Callable[[int], bool],
        beta_at: Callable[[int], float],
        window: int,
        lanes: int = 1,
        share: float = 1,
        pe: Pe = LEADER,
    ) -> float:
        """`common.ring_pipeline`: ``steps`` steps round a ring whose edge ``i`` crosses ``edges[i]`` links; a
        piece received at step ``k`` is combined when ``combine_at(k)``. The slowest chain of consecutive edges
        (the chunk whose steps cross the most links) decides its latency. Every rank forwards what it receives, so
        the ring streams at its slowest edge's rate: a step's pieces follow each other by the most of the link's
        time per piece (shared by ``lanes`` rings and ``share`` streams), ``beta_at(k)`` (the PE's ports and issue
        loop), a step's latency over the half ``window`` of receives a sender may run ahead of, and a credit round
        trip over the ``window`` slots it covers."""
        hw, s, n = self.hw, piece.nbytes, len(edges)
        hop = {links: hw.sip_hop_ns(links, s, pe, ring=self.ring_kind) for links in set(edges)}
        credit = {links: hw.sip_hop_ns(links, self.algo.ipcq_credit_size_bytes, pe) for links in set(edges)}
        work = [
            hw.issue_ns
            + hw.read_ns(s, self.ring_kind, pe)
            + (hw.combine_ns(piece.elements_each) if combine_at(k) else 0.0)
            for k in range(steps)
        ]
        # every rank forwards what it receives, so the whole ring streams no faster than its slowest edge: a
        # sender may run half a window ahead of its receives (that binds once a step has more pieces), and its
        # window of slots comes back a credit's round trip after each piece (once it sends more than a window)
        ahead, sends = max(1, window // 2), steps * piece.pieces
        link = lanes * share * piece.mean_nbytes / hw.link_gbs
        rate = link
        for links in set(edges):
            if piece.pieces > ahead:
                rate = max(rate, (max(work) + hop[links]) / ahead)
            if sends > window:
                rate = max(
                    rate, (hw.issue_ns + hop[links] + hw.read_ns(s, self.ring_kind, pe) + credit[links]) / window
                )
        best = 0.0
        for start in range(n) if n <= 64 else _spread(n):
            alphas = [work[k] + hop[edges[(start + k) % n]] for k in range(steps)]
            betas = [max(link, beta_at(k)) for k in range(steps)]
            best = max(best, pipeline_ns(alphas, betas, piece.pieces, rate, lanes))
        return best

    @property
    def ring_kind(self) -> str:
        return self.algo.buffer_kind

    def piece(self, elements: int, dtype: str, slot_size: int | None = None) -> Piece:
        item = itemsize(dtype)
        return Piece(elements, max(1, (slot_size or self.algo.slot_size) // item), item)


def _spread(n: int) -> list[int]:
    """Chains to try on a long ring: the chain's links repeat with the grid's rows, so one row's starts do."""
    return list(range(min(n, 64)))


# -- all-reduce algorithms ---------------------------------------------------------------------------------------


def ring_allreduce_ns(m: CollectiveModel, elements: int, dtype: str) -> float:
    """`ring_allreduce`: reduce-scatter then all-gather, ``2(p - 1)`` steps of the ``n / p`` chunk, pipelined in
    slot pieces (`ring_stream_ns`); lanes (``all_pes``: every PE its own ring) share the SIP's link."""
    p = m.world
    chunk = max(b - a for a, b in zip(even_bounds(elements, p)[:-1], even_bounds(elements, p)[1:], strict=True))
    return ring_stream_ns(m, chunk, dtype, p - 1, p - 1, _pes(m))


def ring_stream_ns(
    m: CollectiveModel, chunk: int, dtype: str, reduce_steps: int, gather_steps: int, pes: Sequence[Pe] = (LEADER,)
) -> float:
    """Ring steps that stream chunks of ``chunk`` elements through memory: ``reduce_steps`` reduce-scatter steps,
    then ``gather_steps`` all-gather steps, one `ring_pipeline` of slot pieces (the ring all-reduce; the streaming
    reduce-scatter and all-gather of `kernbench.ccl.ring`). What each piece puts through the PE's ports: a reduce
    step loads this rank's part to combine (step 0 also what it sends) beside the piece landing (or, with the ring in
    HBM or SRAM, read back by DMA), all through the port into the PE and the loads (and an HBM ring's reads) through
    its HBM read channel; an all-gather step stores each piece beside sending it on, both out through the PE's port
    (the first step of an all-gather alone also loads what it sends and stores it at this rank's place). ``pes``:
    the lanes, each its own ring from its PE, all sharing the SIP's links."""
    hw, p = m.hw, m.world
    piece = m.piece(chunk, dtype)
    s, mean = piece.nbytes, piece.mean_nbytes
    port, channel = mean / hw.pe_port_gbs, mean / m.topo.cube.hbm_ctrl.effective_bw_gbs
    read = hw.read_ns(s, m.ring_kind)
    loop_rs = 3 * hw.issue_ns + read + hw.combine_ns(piece.elements_each) + hw.translate_ns(s)
    loop_ag = hw.issue_ns + read + hw.issue_ns + hw.store_ns(s)
    ring_reads = 1 if m.ring_kind == "hbm" else 0

    def beta(k: int) -> float:
        if k >= reduce_steps:  # all-gather (its first step also stores this rank's own pieces, when it starts)
            own = k == 0
            return max((3 if own else 2) * port, loop_ag + (hw.issue_ns + hw.store_ns(s) if own else 0.0))
        loads = 2 if k == 0 else 1
        return max((loads + 1) * port, (loads + ring_reads) * channel, loop_rs)

    if p == 1:
        return 0.0
    edges = m.ring_links(1, p)
    flows = [(r, (r + 1) % p) for r in range(p)]

    def lane_ns(pe: Pe) -> float:
        """One lane's ring, from its PE: a lane of a cube far from the IO chiplet crosses more of the cube mesh
        to reach the SerDes port, so the lanes end apart and the slowest decides."""
        ring = m.ring_pipeline_ns(
            edges,
            reduce_steps + gather_steps,
            piece,
            combine_at=lambda k: k < reduce_steps,
            beta_at=beta,
            window=m.algo.n_slots,
            lanes=len(pes),
            share=m.share(flows),
            pe=pe,
        )
        return hw.load_ns(s, pe) + ring + hw.store_ns(s, pe)

    return max(lane_ns(pe) for pe in {cube: (cube, k) for cube, k in sorted(pes, reverse=True)}.values())


def mesh_allreduce_ns(m: CollectiveModel, elements: int, dtype: str) -> float:
    """`mesh_allreduce`: the whole tile along each row, then each column (`common.line_allreduce`): passed along
    a line with wrap links (``size - 1`` steps of the tile, then ``size - 1`` combines), reduced to its end and
    broadcast back without them."""
    w, h = grid_dims(m.world)
    wrap = m.algo.topology != "mesh_2d_no_wrap"
    nbytes = elements * itemsize(dtype)
    lines = _line_ns(m, elements, dtype, w, 1, h, wrap) + _line_ns(m, elements, dtype, h, w, w, wrap)
    return m.hw.load_ns(nbytes) + lines + m.hw.store_ns(nbytes)


def _line_ns(
    m: CollectiveModel, elements: int, dtype: str, size: int, stride: int, lines: int, wrap: bool, pe: Pe = LEADER
) -> float:
    """`common.line_allreduce` on ``lines`` lines of ``size`` ranks at once (rank ``i * stride + j * (size if
    stride == 1 else 1)`` is member ``i`` of line ``j``), between PE ``pe`` of each: the slowest line's time, the
    lines' streams sharing links where their routes cross."""
    if size < 2:
        return 0.0
    hw, piece = m.hw, m.piece(elements, dtype)
    other = size if stride == 1 else 1
    members = [[i * stride + j * other for i in range(size)] for j in range(lines)]
    if wrap:
        flows = [(line[i], line[(i + 1) % size]) for line in members for i in range(size)]
        port = piece.mean_nbytes / hw.pe_port_gbs
        loop = 2 * hw.issue_ns + hw.read_ns(piece.nbytes, m.ring_kind, pe)
        passes = max(
            m.ring_pipeline_ns(
                m.ring_links(1, size, ranks=line),
                size - 1,
                piece,
                combine_at=lambda _k: False,
                beta_at=lambda _k: max(port, loop),
                window=m.algo.n_slots,
                share=m.share(flows),
                pe=pe,
            )
            for line in members
        )
        return passes + (size - 1) * hw.combine_ns(elements)
    trees = [Tree({line[i]: line[i + 1] if i < size - 1 else None for i in range(size)}) for line in members]
    return max(_sip_tree_ns(m, piece, tree, trees, pe) for tree in trees)


@dataclass(frozen=True)
class Tree:
    """A reduction tree: each member's parent (None at the root). Members are ranks, or PEs of one SIP."""

    parent: dict[Any, Any]

    def children(self, node: Any) -> list[Any]:
        return [child for child, up in self.parent.items() if up == node]

    def path(self, node: Any) -> list[tuple[Any, Any]]:
        """The edges (child, parent) from ``node`` up to the root."""
        edges = []
        while self.parent[node] is not None:
            edges.append((node, self.parent[node]))
            node = self.parent[node]
        return edges


def _tree_ns(
    m: CollectiveModel,
    piece: Piece,
    tree: Tree,
    hop: Callable[[Any, Any], float],
    send: Callable[[Any, Any], float],
    link_cycle: float = 0.0,
) -> float:
    """Pieces up a tree, then back down (`common.tree_reduce`, `tree_broadcast`): each pass's first piece takes
    the deepest path (each hop: the send issued, ``hop``, the piece read, combined on the way up), and the rest
    follow one cycle of the slowest node apart (up: a receive and combine per child, then its own blocking
    ``send`` to the parent; down: a receive, then a blocking send to each child) or of the busiest link
    (``link_cycle``)."""
    hw, s = m.hw, piece.nbytes
    read = hw.read_ns(s, m.ring_kind)
    combine = read + hw.combine_ns(piece.elements_each)
    leaves = [node for node in tree.parent if not tree.children(node)]
    kids = {node: tree.children(node) for node in tree.parent}
    # up, a node combines every child's piece before it sends on
    up_first = max(
        (
            sum(hw.issue_ns + hop(a, b) + len(kids[b]) * combine + (len(kids[b]) - 1) * hw.issue_ns for a, b in path)
            for path in map(tree.path, leaves)
        ),
        default=0,
    )
    down_first = max(
        (sum(hw.issue_ns + hop(b, a) + read for a, b in path) for path in map(tree.path, leaves)), default=0
    )
    up_cycle = down_cycle = link_cycle
    for node, parent in tree.parent.items():
        up = len(kids[node]) * (hw.issue_ns + combine) + (hw.issue_ns + send(node, parent) if parent is not None else 0)
        down = (hw.issue_ns + read if parent is not None else 0.0) + sum(
            hw.issue_ns + send(node, kid) for kid in kids[node]
        )
        up_cycle, down_cycle = max(up_cycle, up), max(down_cycle, down)
    return chain_ns([up_first], up_cycle, piece.pieces) + chain_ns([down_first], down_cycle, piece.pieces)


def _sip_tree_ns(m: CollectiveModel, piece: Piece, tree: Tree, concurrent: Sequence[Tree], pe: Pe = LEADER) -> float:
    """`_tree_ns` over ranks: hops over the SIP network, blocking sends done once the piece has left the SIP, and
    links shared by the streams of every tree in ``concurrent`` running at once."""
    hw, s = m.hw, piece.nbytes
    flows = [(a, b) for t in concurrent for a, b in t.parent.items() if b is not None]
    share = max(m.share(flows), m.share([(b, a) for a, b in flows]))
    return _tree_ns(
        m,
        piece,
        tree,
        hop=lambda a, b: hw.sip_hop_ns(m.links(a, b), s, pe, ring=m.ring_kind),
        send=lambda _a, _b: hw.send_out_ns(s, pe),
        link_cycle=share * piece.mean_nbytes / hw.link_gbs,
    )


def _chip_tree_ns(m: CollectiveModel, piece: Piece, tree: Tree) -> float:
    """`_tree_ns` over the PEs of one SIP: hops through the crossbars and the UCIe mesh, a blocking send done
    once the piece has landed."""
    hw, s = m.hw, piece.nbytes
    return _tree_ns(m, piece, tree, hop=lambda a, b: hw.chip_hop_ns(a, b, s), send=lambda a, b: hw.chip_hop_ns(a, b, s))


def tree_allreduce_ns(m: CollectiveModel, elements: int, dtype: str) -> float:
    """`tree_allreduce`: up a binary tree in heap order to rank 0, then back down, piece by piece with blocking
    sends."""
    nbytes = elements * itemsize(dtype)
    total = m.hw.load_ns(nbytes) + m.hw.store_ns(nbytes)
    if m.world == 1:
        return total
    tree = Tree({r: (r - 1) // 2 if r else None for r in range(m.world)})
    return total + _sip_tree_ns(m, m.piece(elements, dtype), tree, [tree])


def hierarchical_allreduce_ns(m: CollectiveModel, elements: int, dtype: str) -> float:
    """`hierarchical_allreduce`: every PE's tile up the SIP's tree (a ring of each cube's PEs, then the ring of
    cube leaders, each reduced from both sides into its first member), the SIP leaders' tiles passed along the
    one-way ring of SIPs and combined, then back down the tree."""
    hw, p, geo = m.hw, m.world, m.geometry
    piece, nbytes = m.piece(elements, dtype), elements * itemsize(dtype)
    parent: dict[Any, Any] = {}
    for cube in range(geo.cubes_per_sip):
        for pe in range(geo.pes_per_cube):
            inner = ring_links(pe, geo.pes_per_cube, "E", "W")
            links = nest(inner, ring_links(cube, geo.cubes_per_sip, "N", "S")) if pe == 0 else inner
            parent[(cube, pe)] = _neighbour((cube, pe), links[0], geo.pes_per_cube, geo.cubes_per_sip)
    total = hw.load_ns(nbytes) + _chip_tree_ns(m, piece, Tree(parent)) + hw.store_ns(nbytes)
    if p > 1:
        port = piece.mean_nbytes / hw.pe_port_gbs
        total += m.ring_pipeline_ns(
            m.ring_links(1, p),
            p - 1,
            piece,
            combine_at=lambda _k: False,
            beta_at=lambda _k: port,
            window=m.algo.n_slots,
            share=m.share([(r, (r + 1) % p) for r in range(p)]),
        )
        total += (p - 1) * hw.combine_ns(elements)
    return total


def _neighbour(node: Pe, direction: str | None, pes_per_cube: int, cubes: int) -> Pe | None:
    """The PE ``direction`` points at in the hierarchical table: E/W along the cube's PEs, N/S along the cubes'
    leaders (None: none, at the root)."""
    cube, pe = node
    if direction is None:
        return None
    if direction in ("E", "W"):
        return cube, (pe + (1 if direction == "E" else -1)) % pes_per_cube
    return (cube + (1 if direction == "N" else -1)) % cubes, 0


def intercube_allreduce_ns(m: CollectiveModel, elements: int, dtype: str) -> float:
    """`intercube_allreduce`: PE 0 of every cube reduces along its row to the root's column and that column to
    the root cube, the root cubes all-reduce along the SIP grid's rows and columns, and the result comes back the
    same way."""
    hw, geo = m.hw, m.geometry
    piece, nbytes = m.piece(elements, dtype), elements * itemsize(dtype)
    root = _root_cube(m)
    root_y, root_x = divmod(root[0], geo.cube_w)
    parent: dict[Any, Any] = {}
    for cube in range(geo.cubes_per_sip):
        y, x = divmod(cube, geo.cube_w)
        up = nest(chain_links(x, geo.cube_w, "E", "W", root_x), chain_links(y, geo.cube_h, "S", "N", root_y))[0]
        step = {"E": 1, "W": -1, "S": geo.cube_w, "N": -geo.cube_w}
        parent[(cube, 0)] = None if up is None else (cube + step[up], 0)
    w, h = geo.sip_grid
    wrap = geo.sip_topology != "mesh_2d_no_wrap"
    lines = _line_ns(m, elements, dtype, w, 1, h, wrap, root) + _line_ns(m, elements, dtype, h, w, w, wrap, root)
    return hw.load_ns(nbytes, root) + _chip_tree_ns(m, piece, Tree(parent)) + lines + hw.store_ns(nbytes, root)


def _pes(m: CollectiveModel) -> list[Pe]:
    """The PEs the algorithm's mapper picks (the same on every rank)."""
    return [(cube, pe) for cube, pe in resolve_mapper(m.algo.mapper)(m.geometry, 0)]


def _root_cube(m: CollectiveModel) -> Pe:
    """`intercube_allreduce`'s root: PE 0 of ccl.yaml's ``root_cube`` (default the last cube)."""
    return m.algo.kernel_config.get("root_cube", m.geometry.cubes_per_sip - 1), 0


ALL_REDUCE: dict[str, Callable[[CollectiveModel, int, str], float]] = {
    "ring_allreduce": ring_allreduce_ns,
    "mesh_allreduce": mesh_allreduce_ns,
    "tree_allreduce": tree_allreduce_ns,
    "hierarchical_allreduce": hierarchical_allreduce_ns,
    "intercube_allreduce": intercube_allreduce_ns,
}
"""The kernel's time (its PEs' start to their end) for one block, for each algorithm module of the shipped
ccl.yaml, by module name (in `SHIPPED`: a user's ``mypkg.ring_allreduce`` is not the shipped ring)."""
SHIPPED = "kernbench.ccl.algorithms."
LAST_PE: dict[str, Callable[[CollectiveModel], Pe]] = {"intercube_allreduce": _root_cube}
"""Where the PE that finishes last sits, where it is not the leader (its completion header's way to the host)."""


# -- the ring collectives of the process group ------------------------------------------------------------------


def ring_collective_ns(m: CollectiveModel, op: str, count: int, dtype: str, root: int = 0) -> float:
    """`kernbench.ccl.ring`'s reduce-scatter, all-gather and broadcast on the SIP leaders' ring (``count`` as
    nccl-tests counts it): the input loaded whole, the ring's steps (reduce-scatter and all-gather: ``p - 1``
    steps of one rank's share, pipelined; broadcast: the root's tile passed east piece by piece with blocking
    sends, ``p - 1`` hops), the output stored whole; launch and completion around them. Reduce-scatter and
    all-gather beyond `BLOCK_BYTES` stream instead (`ring_stream_ns`)."""
    hw, p, item = m.hw, m.world, itemsize(dtype)
    ring = m.ring_links(1, p)
    flows = [(r, (r + 1) % p) for r in range(p)] if p > 1 else []
    piece = m.piece(count, dtype)
    s = piece.nbytes
    total = hw.launch_ns([LEADER]) + hw.done_ns()
    if op == "broadcast":
        total += hw.load_ns(count * item) + hw.store_ns(count * item)
        if p == 1:
            return total
        cycle = hw.issue_ns + hw.read_ns(s) + hw.issue_ns + hw.send_out_ns(s) + (m.share(flows) - 1) * s / hw.link_gbs
        hops = [ring[(root + k) % p] for k in range(p - 1)]  # from the root east to the last rank
        first = [hw.issue_ns + hw.sip_hop_ns(links, s, ring=m.ring_kind) + hw.read_ns(s) for links in hops]
        return total + chain_ns(first, cycle, piece.pieces)
    reduce = op == "reduce_scatter"
    if streams(p * count * item):
        return total + ring_stream_ns(m, count, dtype, p - 1 if reduce else 0, 0 if reduce else p - 1)
    total += hw.load_ns((p * count if reduce else count) * item) + hw.store_ns((count if reduce else p * count) * item)
    if p == 1:
        return total
    port = piece.mean_nbytes / hw.pe_port_gbs
    loop = 2 * hw.issue_ns + hw.read_ns(s) + (hw.combine_ns(piece.elements_each) if reduce else 0.0)
    return total + m.ring_pipeline_ns(
        ring,
        p - 1,
        piece,
        combine_at=lambda _k: reduce,
        beta_at=lambda _k: max(port, loop),
        window=m.algo.n_slots,
        share=m.share(flows),
    )


def reference_ns(
    topo: Topology,
    algo: AlgorithmConfig,
    world: int,
    op: str,
    count: int,
    dtype: str,
    root: int = 0,
    scenario: Scenario = NO_SCENARIO,
) -> float | None:
    """The reference time of one ``op`` of ``count`` elements as `kernbench ccl-perf` runs it (all-reduce:
    ``count`` over the algorithm's shards; the others on the leaders' ring, with the process group's ring
    settings), or None where there is none (an algorithm module the reference does not know)."""
    if op == "all_reduce":
        m = CollectiveModel(topo, algo, world, scenario)
        return m.all_reduce_ns(count // len(m.pes), dtype)
    if op == "all_to_all":
        return all_to_all_ns(CollectiveModel(topo, algo, world, scenario), count, dtype)
    ring = CollectiveModel(topo, replace(algo, buffer_kind="tcm"), world, scenario)
    return ring_collective_ns(ring, op, count, dtype, root)


def all_to_all_ns(m: CollectiveModel, count: int, dtype: str) -> float:
    """`kernbench.ccl.p2p.all_to_all_kernel` (pairwise exchange) of ``count`` elements per rank: the receives
    posted (an issue per header and piece), this rank's own chunk copied, then one message per peer in turn, each
    a header (a blocking send) and the chunk streamed piece by piece at the rate of its route's busiest link
    (every rank sends step k at once). Done when the last message to arrive has: the one whose send started
    latest plus its route's latency (a far peer's, sent mid-way, can come last), its last piece copied out of the
    ring; then the completion."""
    hw, g, item = m.hw, m.world, itemsize(dtype)
    chunk = count // g
    piece = m.piece(chunk, dtype, P2P_SLOT)
    s, pe = piece.nbytes, P2P_PE
    clock = hw.launch_ns([pe]) + (g - 1) * (1 + piece.pieces) * hw.issue_ns
    clock += hw.load_ns(chunk * item, pe) + hw.store_ns(chunk * item, pe) if chunk else 0.0
    arrived = clock
    hbm = hw.fabric.path(("pe", *pe), ("hbm", pe[0]), s)
    for k in range(1, g):
        flows = [(r, (r + k) % g) for r in range(g)]
        links = max(m.links(a, b) for a, b in flows)
        clock += hw.issue_ns + hw.send_out_ns(HEADER_BYTES // 4, pe)
        if not piece.pieces:
            arrived = max(arrived, clock + hw.sip_hop_ns(links, HEADER_BYTES // 4, pe) - hw.send_out_ns(16, pe))
            continue
        rate = max(m.share(flows) * piece.mean_nbytes / hw.link_gbs, 2 * piece.mean_nbytes / hw.pe_port_gbs)
        clock += hw.load_ns(s, pe)
        last_piece = clock + (piece.pieces - 1) * rate
        arrived = max(arrived, last_piece + hw.sip_hop_ns(links, s, pe) + hw.dma_ns + route_ns(hbm, s))
        clock = last_piece + hw.send_out_ns(s, pe)
    return max(clock, arrived) + hw.done_ns(pe)


P2P_PE: Pe = (0, 1)
"""Where the world group's point-to-point traffic and all-to-all run (`kernbench.runtime.groups`)."""
P2P_SLOT = 1 << 16
"""The point-to-point slot of a group of up to 8 ranks (`kernbench.ccl.p2p.Channel`)."""
