"""The IO chiplet of a SIP: PCIe endpoint, IO_CPU, SerDes and a line of NoC routers, one facing each attached cube.

Router ``i`` faces cube ``io_attached_cubes(sip)[i]`` and is joined to it by a UCIe link (built by the fabric);
neighbouring routers are joined by NoC links of ``pitch_mm`` (routers are spaced like the cubes), each paying
``noc.overhead_ns`` for the router it enters. The PCIe endpoint and the IO_CPU hang off router `HUB_ROUTER`
(the first, i.e. the north or west end of the line). The PCIe endpoint's links pay ``pcie_ep.overhead_ns``
either way and run at the PCIe rate (``system.host.pcie.bandwidth_gbs``) or the NoC's, whichever is lower.
Each inter-SIP link direction of the SIP has its own SerDes port, also on the hub: ``sipS.serdes.D`` serialises
what leaves towards D onto the link at the link's rate, and ``sipS.io.serdes.D->noc`` brings what arrives from D
into the hub router (at the link's rate or the NoC's, whichever is lower, paying the router's arbitration). So a
SIP's links carry their full rates at once; what they share is the IO NoC, which the default topology sizes for
all of them together. The inter-SIP links themselves (their latency) belong to the engine.
"""

from __future__ import annotations

from collections.abc import Mapping

import simpy

from kernbench.components.link import Link
from kernbench.components.memory import Memory
from kernbench.topology import DIRECTIONS, Topology, io_attached_cubes, links_from

HUB_ROUTER = 0


class IoChiplet:
    """Links and the IO_CPU memory of SIP ``sip``'s IO chiplet; ``prefix`` (e.g. ``"sip0."``) starts every name.

    ``link_rates``: direction -> GB/s of the inter-SIP links that run at another rate than the topology's (a what-if
    scenario's degraded links, `kernbench.scenario`): both of that link's ports serialise at it."""

    def __init__(
        self,
        env: simpy.Environment,
        topo: Topology,
        sip: int,
        prefix: str,
        link_rates: Mapping[str, float] | None = None,
    ) -> None:
        io = topo.sip.io_chiplet
        noc, ns_mm = io.noc, topo.system.ns_per_mm
        self.name = name = f"{prefix}io"
        self.attached = io_attached_cubes(topo.sip)
        n = len(self.attached)
        pitch = topo.sip.cube_mesh.pitch_mm
        self.noc: dict[tuple[int, int], Link] = {}
        for i in range(n):
            for j in (i - 1, i + 1):
                if 0 <= j < n:
                    label = f"{name}.noc.r{i}->r{j}"
                    self.noc[(i, j)] = Link(env, label, noc.bandwidth_gbs, noc.overhead_ns, pitch, ns_mm)
        pcie_bw = min(noc.bandwidth_gbs, topo.system.host.pcie.bandwidth_gbs)
        ep_ns = io.pcie_ep.overhead_ns
        self.pcie_to_noc = Link(env, f"{name}.pcie->noc", pcie_bw, ep_ns + noc.overhead_ns)
        self.noc_to_pcie = Link(env, f"{name}.noc->pcie", pcie_bw, ep_ns)
        self.serdes_out: dict[str, Link] = {}  # direction -> the port's transmitter onto the link
        self.serdes_in: dict[str, Link] = {}  # direction -> from the port's receiver into the hub
        for link in links_from(topo.system, sip):
            d = link.direction
            rate = (link_rates or {}).get(d, link.bandwidth_gbs)
            self.serdes_out[d] = Link(env, f"{prefix}serdes.{d}", rate)
            self.serdes_in[d] = Link(env, f"{name}.serdes.{d}->noc", min(noc.bandwidth_gbs, rate), noc.overhead_ns)
        self.cpu_to_noc = Link(env, f"{name}.cpu->noc", noc.bandwidth_gbs, noc.overhead_ns)
        self.noc_to_cpu = Link(env, f"{name}.noc->cpu", noc.bandwidth_gbs)
        self.memory = Memory(f"{name}.cpu_mem", io.io_cpu.mem_bytes)

    @property
    def links(self) -> list[Link]:
        return [
            *self.noc.values(),
            self.pcie_to_noc,
            self.noc_to_pcie,
            *self.serdes_in.values(),
            *self.serdes_out.values(),
            self.cpu_to_noc,
            self.noc_to_cpu,
        ]

    def router_of(self, cube: int) -> int:
        """The router facing attached cube ``cube``."""
        return self.attached.index(cube)

    def noc_path(self, src: int, dst: int) -> list[Link]:
        """Router-to-router links from router ``src`` to router ``dst`` along the line."""
        step = 1 if dst > src else -1
        return [self.noc[(r, r + step)] for r in range(src, dst, step)]

    def ingress(self, kind: str, port: str = "") -> Link:
        """Link from the PCIe endpoint, the SerDes port towards ``port`` or the IO_CPU (``"io"``) into the hub."""
        if kind == "serdes":
            return self._serdes(self.serdes_in, port)
        return {"pcie": self.pcie_to_noc, "io": self.cpu_to_noc}[kind]

    def egress(self, kind: str, port: str = "") -> Link:
        """Link from the hub router to the PCIe endpoint, the SerDes port towards ``port`` or the IO_CPU."""
        if kind == "serdes":
            return self._serdes(self.serdes_out, port)
        return {"pcie": self.noc_to_pcie, "io": self.noc_to_cpu}[kind]

    def _serdes(self, ports: dict[str, Link], direction: str) -> Link:
        link = ports.get(direction)
        if link is None:
            have = ", ".join(d for d in DIRECTIONS if d in ports) or "none"
            raise ValueError(f"{self.name}: no SerDes port towards {direction!r} (inter-SIP links: {have})")
        return link
