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

import simpy

from kernbench.components.hbm import HbmController
from kernbench.components.link import Link
from kernbench.components.memory import Memory
from kernbench.topology import Topology


class Cube:
    """Links and memories of cube ``index``; ``prefix`` (e.g. ``"sip0."``) starts every name."""

    def __init__(
        self, env: simpy.Environment, topo: Topology, index: int, prefix: str, directions: Sequence[str]
    ) -> None:
        cube, pe = topo.cube, topo.pe
        ns_mm = topo.system.ns_per_mm
        xbar = cube.xbar
        self.index = index
        self.name = name = f"{prefix}cube{index}"
        self.directions = tuple(directions)
        n_pes = topo.pes_per_cube

        pe_bw = min(pe.pe_dma.bandwidth_gbs, xbar.bandwidth_gbs, pe.pe_tcm.bandwidth_gbs)
        tcm_ns = pe.pe_tcm.access_ns
        self.pe_to_xbar = [
            Link(env, f"{name}.pe{k}->xbar", pe_bw, tcm_ns + xbar.overhead_ns, xbar.pe_wire_mm, ns_mm)
            for k in range(n_pes)
        ]
        self.xbar_to_pe = [
            Link(env, f"{name}.xbar->pe{k}", pe_bw, tcm_ns, xbar.pe_wire_mm, ns_mm) for k in range(n_pes)
        ]
        sram = cube.sram
        self.xbar_to_sram = Link(env, f"{name}.xbar->sram", sram.bandwidth_gbs, sram.access_ns, sram.wire_mm, ns_mm)
        self.sram_to_xbar = Link(
            env, f"{name}.sram->xbar", sram.bandwidth_gbs, sram.access_ns + xbar.overhead_ns, sram.wire_mm, ns_mm
        )
        m_cpu = cube.m_cpu
        self.xbar_to_m_cpu = Link(env, f"{name}.xbar->m_cpu", xbar.bandwidth_gbs, 0.0, m_cpu.wire_mm, ns_mm)
        self.m_cpu_to_xbar = Link(
            env, f"{name}.m_cpu->xbar", xbar.bandwidth_gbs, xbar.overhead_ns, m_cpu.wire_mm, ns_mm
        )
        ports = [*(f"pe{k}" for k in range(n_pes)), *self.directions, "sram", "m_cpu"]
        self.hbm = HbmController(env, f"{name}.hbm", cube.hbm_ctrl, ns_mm, ports, xbar.overhead_ns)

        self.sram = Memory(f"{name}.sram", sram.size_bytes)
        self.m_cpu_mem = Memory(f"{name}.m_cpu", m_cpu.mem_bytes)
        self.tcm = [Memory(f"{name}.pe{k}.tcm", pe.pe_tcm.size_bytes) for k in range(n_pes)]

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
