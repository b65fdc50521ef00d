"""All links of one SIP — cubes, the UCIe mesh between them, the IO chiplet — and routes between endpoints.

Endpoints are plain tuples: ``("pe", cube, pe)`` (the PE's TCM behind its DMA engine), ``("hbm", cube)``,
``("sram", cube)``, ``("m_cpu", cube)``, ``("io",)`` (the IO_CPU and its memory), ``("pcie",)`` (the SIP's PCIe
endpoint), ``("serdes", D)`` (the SIP's SerDes port of its inter-SIP link towards D). The host and the switch are in
`kernbench.components.host`; the links between SIPs belong to the engine.

Cube-to-cube traffic follows the topology's XY route (`kernbench.topology.xy_route`). A UCIe crossing between
neighbours is one `Link` from crossbar to crossbar: wire ``ucie_wire_mm + pitch_mm + ucie_wire_mm`` (crossbar to
PHY, the UCIe hop, PHY to crossbar), overhead ``2 * ucie.overhead_ns`` (two ports) plus the arbitration of the
crossbar it enters. IO traffic enters or leaves the mesh at the attached cube in the destination's row (or
column): `kernbench.topology.io_entry_cube`; its UCIe link is ``io_chiplet.wire_mm + ucie_wire_mm`` long.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

import simpy

from kernbench.components.cube import Cube
from kernbench.components.iochip import HUB_ROUTER, IoChiplet
from kernbench.components.link import Link, Stage, transfer
from kernbench.components.memory import Memory
from kernbench.components.stats import probe_of
from kernbench.topology import PhysAddr, Topology, UnitKind, cube_neighbors, io_attached_cubes, io_entry_cube, xy_route

Endpoint = tuple[str | int, ...]
OPPOSITE = {"E": "W", "W": "E", "N": "S", "S": "N"}
CUBE_KINDS = ("pe", "hbm", "sram", "m_cpu")
IO_KINDS = ("io", "pcie", "serdes")
ENDPOINT_KINDS = (*CUBE_KINDS, *IO_KINDS)
_Normal = tuple[str, int, int, str]
"""An endpoint checked and normalised: (kind, cube, pe, SerDes port); unused fields -1 or empty."""


class SipFabric:
    """The timed links and the memories of SIP number ``sip`` (link names start with ``sip<n>.``).

    A cube, and the UCIe links out of it, are built the first time a route or an address reaches them
    (docs/adr/0009-setup-linear-in-sips.md): an all-reduce over thousands of SIPs that touches one cube per SIP
    pays for one cube per SIP.
    Links are independent state, so when each is built changes no result.
    """

    def __init__(
        self, env: simpy.Environment, topo: Topology, sip: int = 0, link_rates: Mapping[str, float] | None = None
    ) -> None:
        self.env = env
        self.topo = topo
        self.sip = sip
        self.name = f"sip{sip}"
        self._prefix = f"{self.name}."
        self.edge = topo.sip.io_chiplet.attach_edge
        self._attached = io_attached_cubes(topo.sip)
        self.cubes = LazyCubes(topo.sip.cube_mesh.n_cubes, self._build_cube)
        self.io = IoChiplet(env, topo, sip, self._prefix, link_rates)  # link_rates: a scenario's degraded links
        self._ucie: dict[tuple[int, str], Link] = {}  # (cube, direction) -> crossing out of that cube
        self._io_to_cube: dict[int, Link] = {}
        self._routes: dict[tuple[Endpoint, Endpoint], tuple[Link, ...]] = {}
        self._memories: dict[tuple[UnitKind, int, int], Memory] = {}
        self.probe = probe_of(env)  # told which HBM accesses read and which write, when statistics are recorded

    def _build_cube(self, c: int) -> Cube:
        mesh = self.topo.sip.cube_mesh
        directions = list(cube_neighbors(c, mesh.w, mesh.h))
        if c in self._attached:
            directions.append(self.edge)
        return Cube(self.env, self.topo, c, self._prefix, directions)

    def ucie(self, cube: int, direction: str) -> Link:
        """The UCIe crossing out of ``cube`` towards ``direction`` (a neighbour, or the IO chiplet at the edge)."""
        link = self._ucie.get((cube, direction))
        if link is None:
            link = self._ucie[(cube, direction)] = self._build_ucie(cube, direction)
        return link

    def _build_ucie(self, cube: int, direction: str) -> Link:
        topo, ucie, xbar = self.topo, self.topo.sip.ucie, self.topo.cube.xbar
        name, ns_mm = f"{self._prefix}cube{cube}.ucie.{direction}", topo.system.ns_per_mm
        if direction == self.edge and cube in self._attached:  # into the IO chiplet: its router's arbitration
            return self._io_link(name, topo.sip.io_chiplet.noc.overhead_ns)
        mesh = topo.sip.cube_mesh
        if direction not in cube_neighbors(cube, mesh.w, mesh.h):
            raise ValueError(f"{self.name}: cube {cube} has no UCIe link towards {direction}")
        mesh_bw = min(ucie.bandwidth_gbs, xbar.bandwidth_gbs)
        mesh_mm = xbar.ucie_wire_mm + mesh.pitch_mm + xbar.ucie_wire_mm
        return Link(self.env, name, mesh_bw, ucie.crossing_ns + xbar.overhead_ns, mesh_mm, ns_mm)

    def io_to_cube(self, cube: int) -> Link:
        """The UCIe link from the IO chiplet's router into ``cube`` (an attached cube)."""
        link = self._io_to_cube.get(cube)
        if link is None:  # into the cube: its crossbar's arbitration
            name = f"{self._prefix}io.r{self._attached.index(cube)}.ucie->cube{cube}"
            link = self._io_to_cube[cube] = self._io_link(name, self.topo.cube.xbar.overhead_ns)
        return link

    def _io_link(self, name: str, entry_ns: float) -> Link:
        """A UCIe link between the IO chiplet and an edge cube; ``entry_ns``: arbitration where it enters."""
        topo, ucie, xbar, io_cfg = self.topo, self.topo.sip.ucie, self.topo.cube.xbar, self.topo.sip.io_chiplet
        io_bw = min(ucie.bandwidth_gbs, xbar.bandwidth_gbs, io_cfg.noc.bandwidth_gbs)
        io_mm = io_cfg.wire_mm + xbar.ucie_wire_mm
        return Link(self.env, name, io_bw, ucie.crossing_ns + entry_ns, io_mm, topo.system.ns_per_mm)

    @property
    def links(self) -> dict[str, Link]:
        """Every link of the SIP by name, building those not used yet (for inventories and statistics)."""
        mesh = self.topo.sip.cube_mesh
        every = [*self.io.links]
        for c in range(mesh.n_cubes):
            every += self.cubes[c].links
            every += [self.ucie(c, d) for d in cube_neighbors(c, mesh.w, mesh.h)]
        for c in self._attached:
            every += [self.ucie(c, self.edge), self.io_to_cube(c)]
        by_name: dict[str, Link] = {}
        for link in every:
            if link.name in by_name:
                raise AssertionError(f"duplicate link name {link.name}")
            by_name[link.name] = link
        return by_name

    # -- routes

    def route(self, src: Endpoint, dst: Endpoint) -> list[Link]:
        """The links data crosses from ``src`` to ``dst`` (HBM slices not included: see `path`)."""
        return list(self._route(src, dst))

    def _route(self, src: Endpoint, dst: Endpoint) -> tuple[Link, ...]:
        """`route`, found (and its endpoints checked) once per pair of endpoints: every transfer asks for one, and
        few pairs ever talk."""
        links = self._routes.get((src, dst))
        if links is None:
            s, d = self._endpoint(src, "src"), self._endpoint(dst, "dst")
            links = self._routes[(src, dst)] = tuple(self._find_route(s, d, src))
        return links

    def _find_route(self, s: _Normal, d: _Normal, src: Endpoint) -> list[Link]:
        if s == d:
            raise ValueError(f"route: src and dst are the same endpoint {src!r}")
        mesh = self.topo.sip.cube_mesh
        if s[0] in IO_KINDS and d[0] in IO_KINDS:
            return [self.io.ingress(s[0], s[3]), self.io.egress(d[0], d[3])]
        if d[0] in IO_KINDS:
            entry = io_entry_cube(s[1], self.topo.sip)
            hops = xy_route(s[1], entry, mesh.w, mesh.h)
            out_port = hops[0].direction if hops else self.edge
            return [
                self.cubes[s[1]].ingress(s[0], s[2], out_port),
                *(self.ucie(hop.src, hop.direction) for hop in hops),
                self.ucie(entry, self.edge),
                *self.io.noc_path(self.io.router_of(entry), HUB_ROUTER),
                self.io.egress(d[0], d[3]),
            ]
        if s[0] in IO_KINDS:
            entry = io_entry_cube(d[1], self.topo.sip)
            hops = xy_route(entry, d[1], mesh.w, mesh.h)
            in_port = OPPOSITE[hops[-1].direction] if hops else self.edge
            return [
                self.io.ingress(s[0], s[3]),
                *self.io.noc_path(HUB_ROUTER, self.io.router_of(entry)),
                self.io_to_cube(entry),
                *(self.ucie(hop.src, hop.direction) for hop in hops),
                self.cubes[d[1]].egress(d[0], d[2], in_port),
            ]
        src_cube, dst_cube = self.cubes[s[1]], self.cubes[d[1]]
        hops = xy_route(s[1], d[1], mesh.w, mesh.h)
        out_port = hops[0].direction if hops else dst_cube.port_of(d[0], d[2])
        in_port = OPPOSITE[hops[-1].direction] if hops else src_cube.port_of(s[0], s[2])
        return [
            src_cube.ingress(s[0], s[2], out_port),
            *(self.ucie(hop.src, hop.direction) for hop in hops),
            dst_cube.egress(d[0], d[2], in_port),
        ]

    def path(
        self, src: Endpoint, dst: Endpoint, nbytes: int, *, src_offset: int = 0, dst_offset: int = 0
    ) -> list[Stage]:
        """`route` plus the HBM slice fan-out at an HBM end (``*_offset``: the HBM offset accessed there)."""
        stages: list[Stage] = list(self._route(src, dst))
        if src[0] == "hbm":
            read = self.cubes[self._endpoint(src, "src")[1]].hbm.fanout(src_offset, nbytes)
            stages.insert(0, read)
            if self.probe is not None:
                self.probe.hbm_access(read, write=False)
        if dst[0] == "hbm":
            written = self.cubes[self._endpoint(dst, "dst")[1]].hbm.fanout(dst_offset, nbytes)
            stages.append(written)
            if self.probe is not None:
                self.probe.hbm_access(written, write=True)
        return stages

    def transfer(
        self, src: Endpoint, dst: Endpoint, nbytes: int, *, src_offset: int = 0, dst_offset: int = 0
    ) -> simpy.Process:
        """Start moving ``nbytes`` from ``src`` to ``dst`` now; the process's value is a `TransferTiming`."""
        return transfer(self.path(src, dst, nbytes, src_offset=src_offset, dst_offset=dst_offset), nbytes)

    # -- memories

    def memory(self, addr: PhysAddr) -> Memory:
        """The memory a physical address of this SIP lives in (its offset is ``addr.offset``)."""
        if addr.sip != self.sip:
            raise ValueError(f"{self.name}: address {addr} belongs to sip{addr.sip}")
        key = (addr.unit, addr.cube, addr.pe)  # every data access asks: found (and checked) once per memory
        memory = self._memories.get(key)
        if memory is None:
            memory = self._memories[key] = self._find_memory(addr)
        return memory

    def _find_memory(self, addr: PhysAddr) -> Memory:
        if addr.unit is UnitKind.IO:
            return self.io.memory
        if addr.cube >= len(self.cubes):
            raise ValueError(f"{self.name}: address {addr}: cube {addr.cube} out of range, a SIP has {len(self.cubes)}")
        cube = self.cubes[addr.cube]
        if addr.unit is UnitKind.PE_TCM:
            if addr.pe >= len(cube.tcm):
                raise ValueError(f"{self.name}: address {addr}: pe {addr.pe} out of range, a cube has {len(cube.tcm)}")
            return cube.tcm[addr.pe]
        if addr.unit is UnitKind.HBM:
            return cube.hbm.memory
        return cube.sram if addr.unit is UnitKind.SRAM else cube.m_cpu_mem

    # -- internals

    def _endpoint(self, ep: Endpoint, role: str) -> _Normal:
        """Check an endpoint tuple and normalise it to (kind, cube, pe, SerDes port)."""
        if not isinstance(ep, tuple) or not ep or ep[0] not in ENDPOINT_KINDS:
            raise ValueError(
                f"route: {role} {ep!r}: expected ('pe', cube, pe), ('hbm'|'sram'|'m_cpu', cube), "
                "('io',), ('pcie',) or ('serdes', direction)"
            )
        kind = ep[0]
        arity = 3 if kind == "pe" else 1 if kind in ("io", "pcie") else 2
        if len(ep) != arity:
            raise ValueError(f"route: {role} {ep!r}: a {kind!r} endpoint has {arity - 1} index field(s)")
        if kind == "serdes":
            if ep[1] not in self.io.serdes_out:
                have = ", ".join(self.io.serdes_out) or "none"
                raise ValueError(f"route: {role} {ep!r}: {self.name} has no inter-SIP link towards it ({have})")
            return (kind, -1, -1, str(ep[1]))
        if kind in IO_KINDS:
            return (kind, -1, -1, "")
        cube = _index(ep[1], len(self.cubes), role, ep, "cube")
        pe = _index(ep[2], self.topo.pes_per_cube, role, ep, "pe") if kind == "pe" else 0
        return (kind, cube, pe, "")


class LazyCubes(Sequence[Cube]):
    """The cubes of one SIP by index; each is built on first access."""

    def __init__(self, count: int, build: Callable[[int], Cube]) -> None:
        self._count = count
        self._build = build
        self._built: dict[int, Cube] = {}

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Cube: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Cube]: ...
    def __getitem__(self, index: int | slice) -> Cube | Sequence[Cube]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        cube = self._built.get(index)
        if cube is None:
            if not 0 <= index < self._count:
                raise IndexError(f"cube {index} out of range 0..{self._count - 1}")
            cube = self._built[index] = self._build(index)
        return cube

    @property
    def built(self) -> list[Cube]:
        """The cubes built so far, by index."""
        return [self._built[i] for i in sorted(self._built)]


def _index(value: Any, limit: int, role: str, ep: Endpoint, field: str) -> int:
    """``value`` as an index below ``limit``; the error names the field of the endpoint (built only on error)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        index = operator.index(value)
    except TypeError:
        raise ValueError(f"route: {role} {ep!r}: {field} must be an int, got {value!r}") from None
    if not 0 <= index < limit:
        raise ValueError(f"route: {role} {ep!r}: {field} must be 0..{limit - 1}, got {index}")
    return index


def link_names(path: Sequence[Stage]) -> list[str]:
    """Names along a path (a fan-out shows as its name), for traces and tests."""
    return [stage.name for stage in path]
