"""The host's side of one SIP: host root port, PCIe segments and the switch port that lead to the SIP's endpoint.

Two PCIe segments join the host to a SIP: host -> switch and switch -> SIP. Each direction of each segment is one
`Link` at ``system.host.pcie.bandwidth_gbs`` (the switch segment at the lower of that and the switch's port rate)
whose overhead is the segment's one-way ``latency_ns`` plus the fixed cost of what it enters: the host's
``overhead_ns`` (driver, doorbell, root complex) on the host's side, the switch's ``overhead_ns`` on the switch's.

Every SIP gets its own copy of these links, built inside that SIP's logical process: the host and the switch
are not simulated as shared resources, so traffic to two different SIPs does not contend at the host. That keeps
every SIP independent of the others except through the inter-SIP links, which is what lets the engine run SIPs
in parallel (ADR 0002).
"""

from __future__ import annotations

import simpy

from kernbench.components.link import Link
from kernbench.topology import Topology


class HostPort:
    """The links between the host and the PCIe endpoint of SIP ``sip``, one per direction and segment."""

    def __init__(self, env: simpy.Environment, topo: Topology, sip: int) -> None:
        host, switch = topo.system.host, topo.system.switch
        pcie = host.pcie
        sw_bw = min(pcie.bandwidth_gbs, switch.bandwidth_gbs)
        name = f"host.sip{sip}"
        self.host_to_switch = Link(env, f"{name}.host->switch", pcie.bandwidth_gbs, host.overhead_ns + pcie.latency_ns)
        self.switch_to_sip = Link(env, f"{name}.switch->sip", sw_bw, switch.overhead_ns + pcie.latency_ns)
        self.sip_to_switch = Link(env, f"{name}.sip->switch", sw_bw, switch.overhead_ns + pcie.latency_ns)
        self.switch_to_host = Link(env, f"{name}.switch->host", pcie.bandwidth_gbs, host.overhead_ns + pcie.latency_ns)

    @property
    def links(self) -> list[Link]:
        return [self.host_to_switch, self.switch_to_sip, self.sip_to_switch, self.switch_to_host]

    @property
    def downstream(self) -> list[Link]:
        """Host to the SIP's PCIe endpoint."""
        return [self.host_to_switch, self.switch_to_sip]

    @property
    def upstream(self) -> list[Link]:
        """The SIP's PCIe endpoint to the host."""
        return [self.sip_to_switch, self.switch_to_host]
