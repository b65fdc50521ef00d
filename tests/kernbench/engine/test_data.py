"""Bytes written are the bytes read back, in every memory and across SIPs."""

import itertools

import numpy as np
import pytest

from kernbench.engine import MemoryReadMsg, MemoryWriteMsg, PeDmaMsg
from kernbench.topology import PhysAddr
from tests.kernbench.helpers import with_sips

from .conftest import run_hosts


def payload(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


@pytest.mark.parametrize(
    "addr",
    [
        PhysAddr.hbm(0, 5, 4096 * 7 + 13),
        PhysAddr.sram(0, 3, 1000),
        PhysAddr.tcm(0, 9, 6, 12345),
        PhysAddr.m_cpu(0, 2, 64),
        PhysAddr.io(0, 4096),
    ],
)
def test_h2d_then_d2h_round_trips(topo, addr):
    data = payload(10_000, 1)
    got = []

    def host(eng, _sip):
        eng.wait(eng.submit(MemoryWriteMsg(addr, data=data)))
        got.append(eng.wait(eng.submit(MemoryReadMsg(addr, data.size))).data)

    run_hosts(topo, {0: host})
    np.testing.assert_array_equal(got[0], data)


def test_fill_pattern_and_typed_arrays(topo):
    got = []
    f32 = np.linspace(-1, 1, 256, dtype=np.float32)

    def host(eng, _sip):
        eng.wait(eng.submit(MemoryWriteMsg(PhysAddr.hbm(0, 0, 0), nbytes=4096, fill=0xA5)))
        eng.wait(eng.submit(MemoryWriteMsg(PhysAddr.hbm(0, 0, 4096), data=f32)))
        got.append(eng.wait(eng.submit(MemoryReadMsg(PhysAddr.hbm(0, 0, 0), 4096 + f32.nbytes))).data)

    run_hosts(topo, {0: host})
    assert (got[0][:4096] == 0xA5).all()
    np.testing.assert_array_equal(got[0][4096:].view(np.float32), f32)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (PhysAddr.hbm(0, 0, 0), PhysAddr.tcm(0, 0, 0, 0)),  # PE-local HBM
        (PhysAddr.hbm(0, 15, 8192), PhysAddr.sram(0, 0, 0)),  # remote cube HBM into SRAM
        (PhysAddr.tcm(0, 0, 0, 0), PhysAddr.tcm(0, 0, 1, 0)),  # TCM to the neighbour PE's TCM
        (PhysAddr.tcm(0, 0, 0, 0), PhysAddr.tcm(0, 0, 0, 65536)),  # inside one TCM
        (PhysAddr.hbm(0, 0, 0), PhysAddr.hbm(1, 3, 4096)),  # to another SIP
        (PhysAddr.hbm(1, 3, 0), PhysAddr.tcm(0, 0, 0, 0)),  # from another SIP (remote read)
        (PhysAddr.hbm(1, 3, 0), PhysAddr.sram(1, 7, 0)),  # both ends on another SIP
    ],
)
def test_pe_dma_copies_bytes(topo, src, dst):
    data = payload(50_000, 2)
    got = []

    def write(eng, sip):  # each SIP's host fills its own memories (a host only reaches its own SIP)
        if src.sip == sip:
            eng.wait(eng.submit(MemoryWriteMsg(src, data=data)))

    def host0(eng, sip):
        write(eng, sip)
        eng.sleep_until(10_000.0)  # sip1's host has written its source by then
        eng.wait(eng.submit(PeDmaMsg(0, 0, 0, src, dst, data.size)))
        if dst.sip == 0:
            got.append(eng.wait(eng.submit(MemoryReadMsg(dst, data.size))).data)

    engine, _ = run_hosts(topo, {0: host0, 1: write})
    if dst.sip == 0:
        np.testing.assert_array_equal(got[0], data)
    np.testing.assert_array_equal(engine.sip(dst.sip).memory(dst).read(dst.offset, data.size), data)


@pytest.mark.parametrize("layout", ["torus_2d", "mesh_2d_no_wrap"])
def test_multi_hop_routes_forward_through_middle_sips(topo, layout):
    """On a 3x3 grid sip0 writes a distinct block into every other SIP's HBM and reads it back."""
    back = {}

    def host(eng, _sip):
        for other in range(1, 9):
            data = payload(3000, other)
            eng.wait(eng.submit(MemoryWriteMsg(PhysAddr.tcm(0, 0, 0, 0), data=data)))
            eng.wait(eng.submit(PeDmaMsg(0, 0, 0, PhysAddr.tcm(0, 0, 0, 0), PhysAddr.hbm(other, 4, 0), 3000)))
            eng.wait(eng.submit(PeDmaMsg(0, 0, 0, PhysAddr.hbm(other, 4, 0), PhysAddr.sram(0, 1, 0), 3000)))
            back[other] = eng.wait(eng.submit(MemoryReadMsg(PhysAddr.sram(0, 1, 0), 3000))).data

    _, result = run_hosts(with_sips(topo, 9, layout), {0: host})
    for other in range(1, 9):
        np.testing.assert_array_equal(back[other], payload(3000, other), err_msg=f"sip{other}")
    hops = [h["link"] for c in result.results["sip0"]["completed"] for h in c["hops"]]
    # sip0 -> sip4 is E then S: in at sip1's west SerDes port, through its hub, out at its south port
    passing = ("sip1.io.serdes.W->noc", "sip1.serdes.S")
    assert any(pair == passing for pair in itertools.pairwise(hops)), "no route passed through sip1"
