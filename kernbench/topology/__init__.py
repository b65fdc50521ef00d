"""The topology layer: what the simulated system is made of, read from ``topology.yaml``.

It sits below the components and the engine and imports neither them nor `pdes`: it turns a YAML file into
validated, frozen configuration (`load_topology`), and answers pure geometry questions about it (which SIPs
are linked, how a packet crosses the cube mesh, which physical address means which memory).
"""

from kernbench.topology.errors import TopologyError
from kernbench.topology.geometry import (
    CubeHop,
    cube_at,
    cube_coord,
    cube_neighbors,
    io_attached_cubes,
    io_entry_cube,
    manhattan,
    pe_number,
    pe_position,
    route_mm,
    wire_ns,
    xy_route,
)
from kernbench.topology.loader import DEFAULT_TOPOLOGY_PATH, load_topology, parse_topology
from kernbench.topology.physaddr import (
    MAX_CUBES,
    MAX_OFFSET,
    MAX_PES,
    MAX_SIPS,
    PhysAddr,
    UnitKind,
    check_addr,
    hbm_slice,
    hbm_slice_offset,
    unit_capacity,
)
from kernbench.topology.schema import (
    SIP_TOPOLOGIES,
    CubeConfig,
    CubeMeshConfig,
    HbmCtrlConfig,
    PeConfig,
    PeLayoutConfig,
    SipConfig,
    SystemConfig,
    Topology,
)
from kernbench.topology.sip_links import (
    SipLink,
    first_hop,
    links_from,
    min_link_latency_ns,
    sip_grid,
    sip_links,
    sip_neighbors,
    sip_route,
)

__all__ = [
    "DEFAULT_TOPOLOGY_PATH",
    "MAX_CUBES",
    "MAX_OFFSET",
    "MAX_PES",
    "MAX_SIPS",
    "SIP_TOPOLOGIES",
    "CubeConfig",
    "CubeHop",
    "CubeMeshConfig",
    "HbmCtrlConfig",
    "PeConfig",
    "PeLayoutConfig",
    "PhysAddr",
    "SipConfig",
    "SipLink",
    "SystemConfig",
    "Topology",
    "TopologyError",
    "UnitKind",
    "check_addr",
    "cube_at",
    "cube_coord",
    "cube_neighbors",
    "first_hop",
    "hbm_slice",
    "hbm_slice_offset",
    "io_attached_cubes",
    "io_entry_cube",
    "links_from",
    "load_topology",
    "manhattan",
    "min_link_latency_ns",
    "parse_topology",
    "pe_number",
    "pe_position",
    "route_mm",
    "sip_grid",
    "sip_links",
    "sip_neighbors",
    "sip_route",
    "unit_capacity",
    "wire_ns",
    "xy_route",
]
