"""Bad requests get clear errors naming the message and field; the page table follows map / unmap."""

import re

import numpy as np
import pytest

from kernbench.engine import (
    Engine,
    MemoryReadMsg,
    MemoryWriteMsg,
    MmuMapMsg,
    MmuUnmapMsg,
    PeDmaMsg,
    TranslationError,
)
from kernbench.topology import PhysAddr

from .conftest import run_hosts

VA = 0x1_0000_0000  # va_base of the default topology


def submit_error(topo, msg, sip=0):
    """Submit ``msg`` from a host worker of ``sip`` and return the exception it raised there."""
    caught = []

    def host(eng, _s):
        try:
            eng.submit(msg)
        except (ValueError, TypeError) as exc:
            caught.append(exc)

    run_hosts(topo, {sip: host})
    assert caught, f"{msg} was accepted"
    return str(caught[0])


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: MemoryWriteMsg(PhysAddr.hbm(0, 0, 0)), "give data or nbytes"),
        (lambda: MemoryWriteMsg(PhysAddr.hbm(0, 0, 0), nbytes=0), "MemoryWriteMsg.nbytes: must be >= 1"),
        (lambda: MemoryWriteMsg(PhysAddr.hbm(0, 0, 0), nbytes=8, fill=256), "MemoryWriteMsg.fill"),
        (lambda: MemoryWriteMsg(0x1000, nbytes=8), "MemoryWriteMsg.addr: expected a PhysAddr"),
        (lambda: MemoryReadMsg(PhysAddr.hbm(0, 0, 0), nbytes=-1), "MemoryReadMsg.nbytes"),
        (
            lambda: PeDmaMsg(0, 0, 0, PhysAddr.hbm(0, 0, 0), PhysAddr.hbm(0, 1, 0), 1.5),
            "PeDmaMsg.nbytes: expected an int",
        ),
    ],
)
def test_malformed_messages_fail_when_built(build, expected):
    with pytest.raises((ValueError, TypeError), match=expected):
        build()


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        (MemoryReadMsg(PhysAddr.hbm(1, 0, 0), 64), "addressed to sip1 but submitted on sip0"),
        (MemoryReadMsg(PhysAddr.hbm(0, 16, 0), 64), "MemoryReadMsg.addr: .*cube: 16 out of range"),
        (MemoryReadMsg(PhysAddr.tcm(0, 0, 0, (16 << 20) - 8), 64), "MemoryReadMsg.addr: .*outside PE_TCM"),
        (PeDmaMsg(0, 0, 8, PhysAddr.hbm(0, 0, 0), PhysAddr.hbm(0, 1, 0), 64), "PE .*pe 8.* does not exist"),
        (PeDmaMsg(0, 0, 0, PhysAddr.hbm(5, 0, 0), PhysAddr.hbm(0, 1, 0), 64), "PeDmaMsg.src: .*2 SIPs"),
        (PeDmaMsg(0, 0, 0, PhysAddr.hbm(0, 2, 0), PhysAddr.hbm(0, 2, 4096), 64), "same memory"),
        (MmuMapMsg(0, VA + 1, PhysAddr.hbm(0, 0, 0), 4096), "MmuMapMsg.va: .*not aligned"),
        (MmuMapMsg(0, VA, PhysAddr.hbm(0, 0, 100), 4096), "MmuMapMsg.pa: .*not aligned"),
        (MmuMapMsg(0, VA, PhysAddr.hbm(1, 0, 0), 4096), "MmuMapMsg.pa: .*own memory"),
        (MmuMapMsg(0, 0x1000, PhysAddr.hbm(0, 0, 0), 4096), "MmuMapMsg.va: .*outside the VA space"),
        (MmuUnmapMsg(0, VA, 4096), "MmuUnmapMsg.va: 0x100000000 is not mapped"),
    ],
)
def test_requests_that_do_not_fit_the_topology_are_refused_at_submit(topo, msg, expected):
    error = submit_error(topo, msg)
    assert re.search(expected, error), error


def test_submit_outside_host_code_is_an_error(topo):
    engine = Engine(topo)
    with pytest.raises(RuntimeError, match="current_lp\\(\\) must be called from inside a host worker"):
        engine.submit(MemoryReadMsg(PhysAddr.hbm(0, 0, 0), 64))
    with pytest.raises(ValueError, match=r"sip: expected 0\.\.1, got 2"):
        engine.spawn(2, lambda _sip: None)


def test_map_translate_unmap(topo):
    seen = {}

    def host(eng, _sip):
        eng.wait(eng.submit(MmuMapMsg(0, VA, PhysAddr.hbm(0, 3, 1 << 20), 3 * 4096)))
        table = eng.sip(0).page_tables[0]
        seen["pa"] = table.translate(VA + 2 * 4096 + 5)
        with pytest.raises(TranslationError) as seen["dup"]:
            table.check_map(VA + 4096, PhysAddr.hbm(0, 0, 0), 4096)
        eng.wait(eng.submit(MmuUnmapMsg(0, VA, 3 * 4096)))
        seen["after"] = len(table)

    run_hosts(topo, {0: host})
    assert seen["pa"] == PhysAddr.hbm(0, 3, (1 << 20) + 2 * 4096 + 5)
    assert "already mapped" in str(seen["dup"].value)
    assert seen["after"] == 0


def test_a_mapping_is_installed_only_when_its_request_completes(topo):
    states = []

    def host(eng, _sip):
        handle = eng.submit(MmuMapMsg(0, VA, PhysAddr.hbm(0, 0, 0), 4096))
        states.append(len(eng.sip(0).page_tables[0]))
        completion = eng.wait(handle)
        states.append(len(eng.sip(0).page_tables[0]))
        states.append(completion.command_ns)

    run_hosts(topo, {0: host})
    io_cpu, m_cpu = topo.sip.io_chiplet.io_cpu.overhead_ns, topo.cube.m_cpu.overhead_ns
    assert states == [0, 1, io_cpu + m_cpu]


def test_the_host_keeps_its_buffer(topo):
    """MemoryWriteMsg copies its data: changing the array after submit does not change what lands."""
    got = []

    def host(eng, _sip):
        data = np.full(64, 7, np.uint8)
        handle = eng.submit(MemoryWriteMsg(PhysAddr.sram(0, 0, 0), data=data))
        data[:] = 9
        eng.wait(handle)
        got.append(eng.wait(eng.submit(MemoryReadMsg(PhysAddr.sram(0, 0, 0), 64))).data)

    run_hosts(topo, {0: host})
    assert (got[0] == 7).all()


def test_a_mapping_can_target_some_cubes_only(topo):
    """Each cube's M_CPU holds its own table: a replica can be mapped at one VA in every cube."""
    seen = {}

    def host(eng, _sip):
        for cube in (2, 5):
            eng.wait(eng.submit(MmuMapMsg(0, VA, PhysAddr.hbm(0, cube, 0), 4096, cubes=(cube,))))
        tables = eng.sip(0).page_tables
        seen["lengths"] = [len(t) for t in tables]
        seen["pa"] = {cube: tables[cube].translate(VA + 8) for cube in (2, 5)}

    run_hosts(topo, {0: host})
    assert seen["lengths"] == [1 if c in (2, 5) else 0 for c in range(16)]
    assert seen["pa"] == {2: PhysAddr.hbm(0, 2, 8), 5: PhysAddr.hbm(0, 5, 8)}
    assert "MmuMapMsg.cubes: cube 16 out of range" in submit_error(
        topo, MmuMapMsg(0, VA, PhysAddr.hbm(0, 0, 0), 4096, cubes=(16,))
    )
