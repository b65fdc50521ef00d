"""A cube's HBM controller: interleaved slices, per-requester channels and the cube's HBM bytes.

Slices. The HBM offset space is cut into ``interleave_bytes`` blocks dealt round-robin to ``slices`` slices
(`kernbench.topology.hbm_slice`). Each slice is a `Link` at the effective slice bandwidth
(``xbar_to_hbm_bw_gbs * efficiency``, 204.8 GB/s by default) whose overhead is the DRAM ``access_ns``. A request
becomes a `Fanout` stage: each slice it touches carries exactly the bytes of its blocks, in parallel, and pays
``access_ns`` once; reads and writes share the slices.

Channels (the decision on "is one request limited by one slice?"). The controller serves a request as one
stream at the rate of one slice: its blocks go to the slices in turn, so a request has a channel of the slice
bandwidth between the crossbar and the controller. There is one such channel per crossbar port the traffic comes
from or goes to (each PE, each UCIe direction, SRAM, M_CPU), one per direction of data. Hence a PE's DMA stream
into its local HBM is bottlenecked at 204.8 GB/s, while streams from different ports run in parallel and
contend only on the slices they share: the whole cube reaches ``slices * 204.8`` GB/s (1638.4 by default).

A request holds each slice it touches for one interval (its share of the bytes at slice bandwidth, see
`kernbench.components.link`), so two huge concurrent requests mostly take turns on the slices; cut into DMA
descriptors of about 1 MiB (which the engine's DMA should do), eight PEs' streams reach ~90 % of the cube's
bandwidth.
"""

from __future__ import annotations

from collections.abc import Iterable

import simpy

from kernbench.components.link import Fanout, Link
from kernbench.components.memory import Memory
from kernbench.topology import HbmCtrlConfig, hbm_slice

FANOUT_CACHE = 4096
"""Distinct (offset, size) slice splits a controller keeps; past that it starts over (a bound, not a tuning)."""


class HbmController:
    """Slices, channels and memory of one cube's HBM; ``name`` prefixes every link name."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        cfg: HbmCtrlConfig,
        ns_per_mm: float,
        ports: Iterable[str] = (),
        xbar_overhead_ns: float = 0.0,
    ) -> None:
        self.env = env
        self.name = name
        self.cfg = cfg
        bw = cfg.effective_bw_gbs
        self.slices = [Link(env, f"{name}.slice{s}", bw, overhead_ns=cfg.access_ns) for s in range(cfg.slices)]
        # Data into the controller leaves the crossbar: no arbitration; data out of it enters the crossbar: pays it.
        self.write_channels: dict[str, Link] = {}
        self.read_channels: dict[str, Link] = {}
        for port in ports:
            self.write_channels[port] = Link(env, f"{name}.wr[{port}]", bw, 0.0, cfg.wire_mm, ns_per_mm)
            self.read_channels[port] = Link(env, f"{name}.rd[{port}]", bw, xbar_overhead_ns, cfg.wire_mm, ns_per_mm)
        self.memory = Memory(f"{name}.mem", cfg.capacity_bytes)
        self._fanouts: dict[tuple[int, int], Fanout] = {}  # (offset in a round of blocks, bytes) -> its stage

    @property
    def links(self) -> list[Link]:
        return [*self.slices, *self.write_channels.values(), *self.read_channels.values()]

    def write_channel(self, port: str) -> Link:
        """Crossbar port ``port`` -> controller."""
        return self._channel(self.write_channels, port)

    def read_channel(self, port: str) -> Link:
        """Controller -> crossbar port ``port``."""
        return self._channel(self.read_channels, port)

    def slice_bytes(self, offset: int, nbytes: int) -> list[int]:
        """Bytes of ``[offset, offset + nbytes)`` that live in each slice (closed form, no loop over blocks)."""
        self._check(offset, nbytes)
        end = offset + nbytes
        return [_in_slice(end, s, self.cfg) - _in_slice(offset, s, self.cfg) for s in range(len(self.slices))]

    def fanout(self, offset: int, nbytes: int) -> Fanout:
        """The slice stage of an access: one branch per slice touched (the offset's slice for 0 bytes).

        The split repeats every round of blocks, so one `Fanout` per (offset in the round, size) serves every access
        alike; every HBM access of every transfer asks for one.
        """
        self._check(offset, nbytes)
        key = (offset % (self.cfg.interleave_bytes * self.cfg.slices), nbytes)
        stage = self._fanouts.get(key)
        if stage is None:
            if len(self._fanouts) >= FANOUT_CACHE:
                self._fanouts.clear()
            shares = self.slice_bytes(offset, nbytes)
            branches = tuple((self.slices[s], b) for s, b in enumerate(shares) if b > 0)
            if not branches:
                branches = ((self.slices[hbm_slice(offset, self.cfg.slices, self.cfg.interleave_bytes)], 0),)
            stage = self._fanouts[key] = Fanout(f"{self.name}.slices", branches)
        return stage

    def _check(self, offset: int, nbytes: int) -> None:
        if offset < 0 or nbytes < 0 or offset + nbytes > self.cfg.capacity_bytes:
            raise ValueError(
                f"HBM {self.name}: access of {nbytes} bytes at offset {offset:#x} is outside its "
                f"size of {self.cfg.capacity_bytes:#x} bytes"
            )

    def _channel(self, table: dict[str, Link], port: str) -> Link:
        try:
            return table[port]
        except KeyError:
            known = ", ".join(table)
            raise ValueError(f"HBM {self.name}: no channel for crossbar port {port!r}; it has {known}") from None


def _in_slice(end: int, s: int, cfg: HbmCtrlConfig) -> int:
    """Bytes of ``[0, end)`` held by slice ``s``: whole rounds of blocks, then the part of ``s``'s block in the rest."""
    block = cfg.interleave_bytes
    rounds, rest = divmod(end, block * cfg.slices)
    return rounds * block + min(max(rest - s * block, 0), block)
