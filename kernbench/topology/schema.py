"""Typed, frozen configuration of a system, as read from ``topology.yaml``.

The dataclasses here *are* the schema: the loader walks their fields to know which YAML keys exist, which are
required, their types and their bounds (field metadata ``gt`` / ``ge`` / ``le``). Adding a parameter means adding a
field here and a commented line in ``topology.yaml``; nothing else has to learn about it.

Units are in the field names: ``_ns`` nanoseconds, ``_mm`` millimetres, ``_gbs`` GB/s (1e9 bytes/s, which is the
same as bytes per ns), ``_gib`` / ``_mib`` / ``_kib`` binary capacities (2**30 / 2**20 / 2**10 bytes),
``_bytes`` bytes, ``flops_per_ns`` floating-point operations per ns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypeVar, dataclass_transform

SipTopologyName = Literal["ring_1d", "torus_2d", "mesh_2d_no_wrap"]
Corner = Literal["NW", "NE", "SW", "SE"]
Edge = Literal["N", "S", "E", "W"]

SIP_TOPOLOGIES: tuple[str, ...] = ("ring_1d", "torus_2d", "mesh_2d_no_wrap")

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30


LOOKAHEAD_HORIZON_NS = 1e12
"""The latest simulated time (1,000 s) at which every lookahead must still move the clock forward."""
MIN_LOOKAHEAD_NS = 1e-3
"""The smallest inter-SIP latency accepted. At `LOOKAHEAD_HORIZON_NS` one float64 step is 1.2e-4 ns: a smaller
lookahead would leave ``t + lookahead == t`` there, and the synchronizer would spin without advancing time."""


def bounded(*, gt: float | None = None, ge: float | None = None, le: float | None = None, why: str = "") -> Any:
    """A required dataclass field whose numeric value the loader checks against the given bounds.

    ``why`` is added to the error message when the bound is violated.
    """
    return field(metadata={"gt": gt, "ge": ge, "le": le, "why": why})


_Section = TypeVar("_Section")


@dataclass_transform(frozen_default=True, field_specifiers=(field, bounded))
def section(cls: type[_Section]) -> type[_Section]:
    """A frozen dataclass of the schema; declared a dataclass transform so type checkers know that a `bounded`
    field, like any field without a default, is required."""
    return dataclass(frozen=True)(cls)


# --------------------------------------------------------------------------------------------------- system level


@section
class InterSipLinkConfig:
    """One direction of a SIP-to-SIP link; its latency is the parallel engine's lookahead, hence not too small."""

    latency_ns: float = bounded(
        ge=MIN_LOOKAHEAD_NS,
        why="it is the parallel engine's lookahead: time + lookahead "
        f"must exceed time up to {LOOKAHEAD_HORIZON_NS / 1e9:g} s simulated",
    )
    bandwidth_gbs: float = bounded(gt=0)


@section
class SwitchConfig:
    """The PCIe switch that fans the host out to every SIP's PCIe endpoint."""

    overhead_ns: float = bounded(ge=0)
    bandwidth_gbs: float = bounded(gt=0)


@section
class PcieConfig:
    """Each PCIe link segment (host to switch, switch to a SIP)."""

    bandwidth_gbs: float = bounded(gt=0)
    latency_ns: float = bounded(ge=0)


@section
class HostConfig:
    overhead_ns: float = bounded(ge=0)
    pcie: PcieConfig


@section
class SystemConfig:
    sip_count: int = bounded(ge=1)
    topology: SipTopologyName
    ns_per_mm: float = bounded(ge=0)
    inter_sip_link: InterSipLinkConfig
    switch: SwitchConfig
    host: HostConfig


# ------------------------------------------------------------------------------------------------------ SIP level


@section
class CubeMeshConfig:
    """The w x h grid of cubes in a SIP; cube id = y * w + x, x grows east, y grows south."""

    w: int = bounded(ge=1)
    h: int = bounded(ge=1)
    pitch_mm: float = bounded(ge=0)

    @property
    def n_cubes(self) -> int:
        return self.w * self.h


@section
class UcieConfig:
    """A die-to-die link between neighbouring cubes (or the IO chiplet and an edge cube)."""

    overhead_ns: float = bounded(ge=0)
    bandwidth_gbs: float = bounded(gt=0)

    @property
    def crossing_ns(self) -> float:
        """Fixed cost of one die-to-die crossing: the transmit and the receive port."""
        return 2.0 * self.overhead_ns


@section
class IoNocConfig:
    overhead_ns: float = bounded(ge=0)
    bandwidth_gbs: float = bounded(gt=0)


@section
class IoCpuConfig:
    overhead_ns: float = bounded(ge=0)
    mem_mib: int = bounded(ge=1)

    @property
    def mem_bytes(self) -> int:
        return self.mem_mib * MIB


@section
class PcieEpConfig:
    overhead_ns: float = bounded(ge=0)


@section
class IoChipletConfig:
    """The IO chiplet: PCIe endpoint, IO_CPU and a NoC with one router per cube on the edge it is attached to."""

    attach_edge: Edge
    wire_mm: float = bounded(ge=0)
    noc: IoNocConfig
    io_cpu: IoCpuConfig
    pcie_ep: PcieEpConfig


@section
class SipConfig:
    cube_mesh: CubeMeshConfig
    ucie: UcieConfig
    io_chiplet: IoChipletConfig


# ----------------------------------------------------------------------------------------------------- cube level


@section
class PeLayoutConfig:
    """PEs sit in groups at the cube's corners; pe = corner_index * pe_per_corner + index."""

    corners: tuple[Corner, ...]
    pe_per_corner: int = bounded(ge=1)

    @property
    def pes_per_cube(self) -> int:
        return len(self.corners) * self.pe_per_corner


@section
class MCpuConfig:
    overhead_ns: float = bounded(ge=0)
    mem_kib: int = bounded(ge=1)
    wire_mm: float = bounded(ge=0)

    @property
    def mem_bytes(self) -> int:
        return self.mem_kib * KIB


@section
class XbarConfig:
    overhead_ns: float = bounded(ge=0)
    bandwidth_gbs: float = bounded(gt=0)
    pe_wire_mm: float = bounded(ge=0)
    ucie_wire_mm: float = bounded(ge=0)


@section
class HbmCtrlConfig:
    """HBM of one cube: ``slices`` independent slices, addresses interleaved across them."""

    capacity_gib: int = bounded(ge=1)
    slices: int = bounded(ge=1)
    interleave_bytes: int = bounded(ge=1)
    xbar_to_hbm_bw_gbs: float = bounded(gt=0)
    efficiency: float = bounded(gt=0, le=1)
    access_ns: float = bounded(ge=0)
    wire_mm: float = bounded(ge=0)

    @property
    def capacity_bytes(self) -> int:
        return self.capacity_gib * GIB

    @property
    def slice_bytes(self) -> int:
        return self.capacity_bytes // self.slices

    @property
    def effective_bw_gbs(self) -> float:
        """Bandwidth one slice really delivers (raw x efficiency); 256 x 0.8 = 204.8 GB/s by default."""
        return self.xbar_to_hbm_bw_gbs * self.efficiency

    @property
    def cube_effective_bw_gbs(self) -> float:
        """All slices of the cube together."""
        return self.effective_bw_gbs * self.slices


@section
class SramConfig:
    size_mib: int = bounded(ge=1)
    bandwidth_gbs: float = bounded(gt=0)
    access_ns: float = bounded(ge=0)
    wire_mm: float = bounded(ge=0)

    @property
    def size_bytes(self) -> int:
        return self.size_mib * MIB


@section
class CubeConfig:
    pe_layout: PeLayoutConfig
    m_cpu: MCpuConfig
    xbar: XbarConfig
    hbm_ctrl: HbmCtrlConfig
    sram: SramConfig


# ------------------------------------------------------------------------------------------------------- PE level


@section
class PeCpuConfig:
    overhead_ns: float = bounded(ge=0)


@section
class SchedulerConfig:
    """The PE's tile scheduler; it keeps the top ``tcm_reserved_mib`` of the TCM for its staging buffers."""

    overhead_ns: float = bounded(ge=0)
    tcm_reserved_mib: int = bounded(ge=0)


@section
class PeDmaConfig:
    overhead_ns: float = bounded(ge=0)
    bandwidth_gbs: float = bounded(gt=0)
    max_outstanding: int = bounded(ge=1)


@section
class PeTcmConfig:
    size_mib: int = bounded(ge=1)
    bandwidth_gbs: float = bounded(gt=0)
    access_ns: float = bounded(ge=0)

    @property
    def size_bytes(self) -> int:
        return self.size_mib * MIB


@section
class ComputeUnitConfig:
    """A PE compute unit (pe_gemm, pe_math): throughput plus a fixed cost per operation."""

    flops_per_ns: float = bounded(gt=0)
    overhead_ns: float = bounded(ge=0)


@section
class PeMmuConfig:
    """Device virtual address space (one per SIP, shared by its PEs) and the MMU's translation costs."""

    va_base: int = bounded(ge=0)
    va_size_gib: int = bounded(ge=1)
    page_bytes: int = bounded(
        ge=4 * KIB,
        le=GIB,
        why="each mapped page is tracked separately: smaller pages make a run's memory grow without bound",
    )
    tlb_hit_ns: float = bounded(ge=0)
    walk_ns: float = bounded(ge=0)

    @property
    def va_size_bytes(self) -> int:
        return self.va_size_gib * GIB

    @property
    def va_end(self) -> int:
        """First address past the VA space."""
        return self.va_base + self.va_size_bytes


@section
class PeIpcqConfig:
    overhead_ns: float = bounded(ge=0)


@section
class PeConfig:
    """Template instantiated for every PE of every cube."""

    pe_cpu: PeCpuConfig
    scheduler: SchedulerConfig
    pe_dma: PeDmaConfig
    pe_tcm: PeTcmConfig
    pe_gemm: ComputeUnitConfig
    pe_math: ComputeUnitConfig
    pe_mmu: PeMmuConfig
    pe_ipcq: PeIpcqConfig

    @property
    def tcm_user_bytes(self) -> int:
        """TCM left to kernels and allocators: ``[0, tcm_user_bytes)``; the scheduler owns the rest."""
        return self.pe_tcm.size_bytes - self.scheduler.tcm_reserved_mib * MIB


# ------------------------------------------------------------------------------------------------------ the whole


@section
class Topology:
    """A validated system description; ``source`` names where it came from (not a YAML key)."""

    system: SystemConfig
    sip: SipConfig
    cube: CubeConfig
    pe: PeConfig
    source: str = field(default="<dict>", metadata={"yaml": False})

    # Counts every request's checks ask for: computed once (a frozen section never changes; fields decide
    # equality, so the cached values do not).

    @cached_property
    def sip_count(self) -> int:
        return self.system.sip_count

    @cached_property
    def cubes_per_sip(self) -> int:
        return self.sip.cube_mesh.n_cubes

    @cached_property
    def pes_per_cube(self) -> int:
        return self.cube.pe_layout.pes_per_cube

    @property
    def pes_per_sip(self) -> int:
        return self.cubes_per_sip * self.pes_per_cube

    @property
    def total_pes(self) -> int:
        return self.sip_count * self.pes_per_sip
