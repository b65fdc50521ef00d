"""One cube: the crossbar's ports to its PEs, HBM, SRAM and M_CPU, and the memories behind them.

The crossbar itself is non-blocking; what contends are its ports, each a `Link` per direction of data. Rule for
every link of the SIP: its overhead is the fixed cost a transfer pays on it — the ports and PHYs it crosses plus
the arbitration of the crossbar or router it *enters* (so a crossbar traversal pays ``xbar.overhead_ns`` once,
on the way in). Bandwidths: a PE port runs at the slowest of its DMA engine, the crossbar port and the TCM;
the SRAM and M_CPU ports at the SRAM's and the crossbar's bandwidth; HBM channels at one slice's (see `hbm`).

A PE endpoint is its TCM behind its DMA engine, so PE ports also pay ``pe_tcm.access_ns``; SRAM ports pay
``sram.access_ns``. Per-command costs (PE_CPU, scheduler, DMA descriptor setup, M_CPU, IO_CPU) are the
engine's, charged when it issues a command, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import simpy

from kernbench.components.hbm import HbmController
from kernbench.components.link import Link
from kernbench.components.memory import Memory
from kernbench.topology import Topology


class Cube:
    """Links and memories of cube ``index``; ``prefix`` (e.g. ``"sip0."``) starts every name.

    The parts are built the first time something reaches them: every cube of a SIP gets page-table updates
    through its M_CPU, while only the cubes a workload computes on need their PE ports, SRAM and HBM channels.
    """

    def __init__(
        self, env: simpy.Environment, topo: Topology, index: int, prefix: str, directions: Sequence[str]
    ) -> None:
        self.env = env
        self.topo = topo
        self.index = index
        self.name = name = f"{prefix}cube{index}"
        self.directions = tuple(directions)
        ns_mm, xbar, m_cpu = topo.system.ns_per_mm, topo.cube.xbar, topo.cube.m_cpu
        self.xbar_to_m_cpu = Link(env, f"{name}.xbar->m_cpu", xbar.bandwidth_gbs, 0.0, m_cpu.wire_mm, ns_mm)
        self.m_cpu_to_xbar = Link(
            env, f"{name}.m_cpu->xbar", xbar.bandwidth_gbs, xbar.overhead_ns, m_cpu.wire_mm, ns_mm
        )
        self.m_cpu_mem = Memory(f"{name}.m_cpu", m_cpu.mem_bytes)

    @cached_property
    def pe_to_xbar(self) -> list[Link]:
        pe, xbar = self.topo.pe, self.topo.cube.xbar
        return [
            Link(
                self.env,
                f"{self.name}.pe{k}->xbar",
                self._pe_bw,
                pe.pe_tcm.access_ns + xbar.overhead_ns,
                xbar.pe_wire_mm,
                self.topo.system.ns_per_mm,
            )
            for k in range(self.topo.pes_per_cube)
        ]

    @cached_property
    def xbar_to_pe(self) -> list[Link]:
        pe, xbar = self.topo.pe, self.topo.cube.xbar
        return [
            Link(
                self.env,
                f"{self.name}.xbar->pe{k}",
                self._pe_bw,
                pe.pe_tcm.access_ns,
                xbar.pe_wire_mm,
                self.topo.system.ns_per_mm,
            )
            for k in range(self.topo.pes_per_cube)
        ]

    @property
    def _pe_bw(self) -> float:
        """A PE port runs at the slowest of its DMA engine, the crossbar port and the TCM."""
        pe = self.topo.pe
        return min(pe.pe_dma.bandwidth_gbs, self.topo.cube.xbar.bandwidth_gbs, pe.pe_tcm.bandwidth_gbs)

    @cached_property
    def xbar_to_sram(self) -> Link:
        sram = self.topo.cube.sram
        return Link(
            self.env,
            f"{self.name}.xbar->sram",
            sram.bandwidth_gbs,
            sram.access_ns,
            sram.wire_mm,
            self.topo.system.ns_per_mm,
        )

    @cached_property
    def sram_to_xbar(self) -> Link:
        sram, xbar = self.topo.cube.sram, self.topo.cube.xbar
        return Link(
            self.env,
            f"{self.name}.sram->xbar",
            sram.bandwidth_gbs,
            sram.access_ns + xbar.overhead_ns,
            sram.wire_mm,
            self.topo.system.ns_per_mm,
        )

    @cached_property
    def hbm(self) -> HbmController:
        ports = [*(f"pe{k}" for k in range(self.topo.pes_per_cube)), *self.directions, "sram", "m_cpu"]
        return HbmController(
            self.env,
            f"{self.name}.hbm",
            self.topo.cube.hbm_ctrl,
            self.topo.system.ns_per_mm,
            ports,
            self.topo.cube.xbar.overhead_ns,
        )

    @cached_property
    def sram(self) -> Memory:
        return Memory(f"{self.name}.sram", self.topo.cube.sram.size_bytes)

    @cached_property
    def tcm(self) -> list[Memory]:
        return [Memory(f"{self.name}.pe{k}.tcm", self.topo.pe.pe_tcm.size_bytes) for k in range(self.topo.pes_per_cube)]

    @property
    def links(self) -> list[Link]:
        return [
            *self.pe_to_xbar,
            *self.xbar_to_pe,
            self.xbar_to_sram,
            self.sram_to_xbar,
            self.xbar_to_m_cpu,
            self.m_cpu_to_xbar,
            *self.hbm.links,
        ]

    def port_of(self, kind: str, pe: int = 0) -> str:
        """The crossbar port an endpoint of this cube is attached to (HBM has none: it is reached by channels)."""
        return f"pe{pe}" if kind == "pe" else kind

    def ingress(self, kind: str, pe: int, out_port: str) -> Link:
        """Link from a local endpoint into the crossbar, for traffic that leaves by ``out_port``."""
        if kind == "pe":
            return self.pe_to_xbar[pe]
        if kind == "hbm":
            return self.hbm.read_channel(out_port)
        return {"sram": self.sram_to_xbar, "m_cpu": self.m_cpu_to_xbar}[kind]

    def egress(self, kind: str, pe: int, in_port: str) -> Link:
        """Link from the crossbar to a local endpoint, for traffic that came in by ``in_port``."""
        if kind == "pe":
            return self.xbar_to_pe[pe]
        if kind == "hbm":
            return self.hbm.write_channel(in_port)
        return {"sram": self.xbar_to_sram, "m_cpu": self.xbar_to_m_cpu}[kind]
