"""IPCQ queue pairs: address-based matching on a 2-rank ring, backpressure, credits, asynchronous receives,
deadlocks, errors."""

import numpy as np
import pytest

from kernbench.ccl import AlgorithmConfig, build_install_plans
from kernbench.engine import Engine, IpcqDeadlock, IpcqInitMsg, KernelError
from kernbench.runtime import RuntimeContext
from kernbench.topology import PhysAddr
from tests.kernbench.helpers import with_sips


def ring_plan(topo, sip: int, n_slots: int = 4, slot_size: int = 1024, **fields):
    """PE 0 of cube 0 of every SIP in a ring (the ccl install plan): E sends into the east peer's W ring, and so on."""
    algo = AlgorithmConfig(
        "ring", "kernbench.ccl.algorithms.ring_allreduce", "ring_1d", n_slots=n_slots, slot_size=slot_size, **fields
    )
    return build_install_plans(algo, topo)[sip].installs[0].queues


def run_ring(topo, kernel, count=2, n_slots=4, plan_fields=None, **engine_kwargs):
    """Install the ring on every SIP, wait until all have it, launch ``kernel`` on PE (0, 0); return results."""
    engine = Engine(topo, **engine_kwargs)
    torch = RuntimeContext(engine)

    def host(sip):
        engine.wait(engine.submit(IpcqInitMsg(sip, 0, 0, ring_plan(topo, sip, n_slots, **(plan_fields or {})))))
        engine.sleep_until(10_000.0)  # every SIP has installed its queues
        done = torch.launch("ring", kernel, grid=[(0, 0)])
        out = engine.sip(sip).memory(PhysAddr.sram(sip, 0, 0)).read(0, 64).view(np.float32)
        return {"out": out, "end": done.end_ns, "exec": done.detail["exec_ns"]}

    for sip in range(count):
        if engine.is_local(sip):
            engine.spawn(sip, host, name=f"sip{sip}")
    return engine.run().workers


def exchange(tl):
    """Send my SIP number east and west; store what comes from the west, then from the east."""
    me = tl.zeros((8,), "f32") + float(tl.ctx.sip + 1)
    tl.send("E", me)
    tl.send("W", me * 10.0)
    from_w = tl.recv("W", (8,), "f32")
    from_e = tl.recv("E", (8,), "f32")
    tl.store(PhysAddr.sram(tl.ctx.sip, 0, 0), tl.zeros((16,), "f32") + 0.0)
    tl.store(PhysAddr.sram(tl.ctx.sip, 0, 0), from_w)
    tl.store(PhysAddr.sram(tl.ctx.sip, 0, 32), from_e)


def test_two_rank_bidirectional_ring_matches_by_address(topo):
    """Both directions of sip0 point at sip1 (ADR-0025): data still lands in the right queue."""
    got = run_ring(topo, exchange)
    assert got["sip0"]["out"].tolist() == [2.0] * 8 + [20.0] * 8  # W queue: sip1's E send; E queue: its W send
    assert got["sip1"]["out"].tolist() == [1.0] * 8 + [10.0] * 8


def pass_along_allreduce(count):
    """A kernel passing partial sums round a ring of ``count``: after count-1 steps every SIP holds the total."""

    def kernel(tl):
        acc = tl.zeros((8,), "f32") + float(tl.ctx.sip + 1)
        carry = acc
        for _ in range(count - 1):
            tl.send("E", carry)
            carry = tl.recv("W", (8,), "f32")
            acc = acc + carry
        tl.store(PhysAddr.sram(tl.ctx.sip, 0, 0), acc)

    return kernel


@pytest.mark.parametrize("count", [3, 4])
def test_ring_allreduce_sums_on_every_sip(topo, count):
    ring = with_sips(topo, count)
    got = run_ring(ring, pass_along_allreduce(count), count=count)
    total = count * (count + 1) / 2
    assert all(got[f"sip{s}"]["out"][:8].tolist() == [total] * 8 for s in range(count))


def test_a_full_ring_blocks_the_sender_until_a_credit_returns(topo):
    """With one slot, sip0's second send waits for sip1 to receive the first (which sip1 does late)."""

    def kernel(tl):
        if tl.ctx.sip == 0:
            for k in range(2):
                tl.send("E", tl.zeros((4,), "f32") + float(k))
            tl.store(PhysAddr.sram(0, 0, 0), tl.zeros((1,), "f32") + float(tl.ctx.now))
        else:
            tl.ctx.spend("cpu", 50_000.0)  # busy elsewhere for 50 us
            first = tl.recv("W", (4,), "f32")
            second = tl.recv("W", (4,), "f32")
            tl.store(PhysAddr.sram(1, 0, 0), first + second * 10.0)

    got = run_ring(topo, kernel, n_slots=1)
    assert got["sip1"]["out"][:4].tolist() == [10.0] * 4
    sent_at = got["sip0"]["out"][0]
    assert sent_at > 50_000.0  # the second send could only finish after sip1 freed the slot
    unblocked = run_ring(topo, kernel, n_slots=2)["sip0"]["out"][0]
    assert unblocked < 20_000.0  # two slots: both sends land at once, long before sip1 looks (launch at ~10 us)


def test_installing_a_direction_twice_or_using_a_missing_queue_is_an_error(topo):
    engine = Engine(topo)
    torch = RuntimeContext(engine)
    checked = []

    def host(_sip):
        engine.wait(engine.submit(IpcqInitMsg(0, 0, 0, ring_plan(topo, 0))))
        with pytest.raises(ValueError, match="already has IPCQ direction 'E'"):
            engine.submit(IpcqInitMsg(0, 0, 0, ring_plan(topo, 0)))
        with pytest.raises(KernelError, match=r"kernel 'bad' .*no IPCQ direction 'N' \(installed: E, W\)"):
            torch.launch("bad", lambda tl: tl.send("N", tl.zeros((2,), "f32")), grid=[(0, 0)])
        with pytest.raises(KernelError, match=r"kernel 'bad2' .*4096 bytes do not fit a 1024-byte slot"):
            torch.launch("bad2", lambda tl: tl.send("E", tl.zeros((1024,), "f32")), grid=[(0, 0)])
        checked.append(True)

    engine.spawn(0, host)
    engine.run()
    assert checked == [True]


def test_a_receive_bigger_than_a_slot_is_refused(topo):
    """Reading past the slot would return the next slot's bytes: refused, with or without ``dst``."""

    def kernel(tl):
        if tl.ctx.sip == 1:
            tl.recv("W", (1024,), "f32")

    with pytest.raises(KernelError, match=r"tl\.recv of 4096 bytes on 'W': a slot holds 1024 bytes"):
        run_ring(topo, kernel)


def test_recv_async_completes_out_of_order_and_recv_into_an_address(topo):
    """Receives claimed at once are matched in claim order: waiting for the second first still gives the second
    tile; a receive into ``dst`` lands there by DMA while the PE goes on."""

    def kernel(tl):
        if tl.ctx.sip == 0:
            for k in range(3):
                tl.send("E", tl.zeros((4,), "f32") + float(k + 1))
            return
        first = tl.recv_async("W", (4,), "f32")
        second = tl.recv_async("W", (4,), "f32")
        third = tl.recv_async("W", (4,), "f32", dst=PhysAddr.sram(1, 0, 32))
        b = tl.wait(second)
        a = tl.wait(first)
        assert tl.wait(third) is None
        tl.store(PhysAddr.sram(1, 0, 0), tl.cat([a, b]))

    got = run_ring(topo, kernel)["sip1"]["out"]
    assert got[:12].tolist() == [1.0] * 4 + [2.0] * 4 + [3.0] * 4


def test_send_async_and_load_async_let_the_pe_go_on_while_their_dma_runs(topo):
    """Four sends into a 4-slot ring cost the PE one command each (no credit to wait for, the DMAs run behind)
    and land in order; a load_async costs one command too, and its tile comes with wait."""
    command = topo.pe.pe_cpu.overhead_ns

    def kernel(tl):
        if tl.ctx.sip == 1:
            tl.store(PhysAddr.sram(1, 0, 0), tl.cat([tl.recv("W", (4,), "f32")[:1] for _ in range(4)]))
            return
        tiles = [tl.zeros((4,), "f32") + float(k + 1) for k in range(4)]
        start = tl.ctx.now
        sends = [tl.send_async("E", tile) for tile in tiles]
        loading = tl.load_async(PhysAddr.sram(0, 0, 64), (2,), "f32")
        issued = tl.ctx.now - start
        tile = tl.wait(loading)
        for handle in sends:
            tl.wait(handle)
        tl.store(PhysAddr.sram(0, 0, 0), tl.cat([tl.zeros((1,), "f32") + issued, tile]))

    got = run_ring(topo, kernel)
    assert got["sip0"]["out"][:3].tolist() == [5 * command, 0.0, 0.0]
    assert got["sip1"]["out"][:4].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_send_handle_waited_for_twice_is_a_kernel_error(topo):
    def kernel(tl):
        if tl.ctx.sip == 0:
            handle = tl.send_async("E", tl.zeros((4,), "f32"))
            tl.wait(handle)
            tl.wait(handle)
        else:
            tl.recv("W", (4,), "f32")

    with pytest.raises(KernelError, match=r"tl.wait: the send #0 on 'E' was already waited for"):
        run_ring(topo, kernel)


def test_recv_into_dst_reaches_memory(topo):
    def kernel(tl):
        if tl.ctx.sip == 0:
            tl.send("E", tl.zeros((4,), "f32") + 7.0)
        else:
            tl.recv("W", (4,), "f32", dst=PhysAddr.sram(1, 0, 16))

    assert run_ring(topo, kernel)["sip1"]["out"][4:8].tolist() == [7.0] * 4


def test_a_recv_nobody_satisfies_is_an_ipcq_deadlock_with_a_queue_dump(topo):
    def kernel(tl):
        tl.recv("W", (4,), "f32")  # both SIPs wait, nobody sends

    with pytest.raises(IpcqDeadlock) as info:
        run_ring(topo, kernel)
    text = str(info.value)
    assert "IPCQ deadlock: 2 queue(s) wait" in text
    assert "sip0.cube0.pe0 W: waits for data #0 from sip1.cube0.pe0" in text
    assert "rx_head=0 rx_next=1 rx_tail=0" in text
    assert set(info.value.queues) == {"sip0", "sip1"}


def test_the_dump_names_a_blocked_send_and_a_waited_receive_on_one_queue(topo):
    """sip0 waits for data on E in the background while its fifth send on E waits for a credit that sip1 (which
    does nothing) never returns: the dump names both waits of that queue."""

    def kernel(tl):
        if tl.ctx.sip == 1:
            return
        pending = tl.recv_async("E", (4,), "f32", dst=PhysAddr.sram(0, 0, 0))
        for _ in range(5):
            tl.send("E", tl.zeros((4,), "f32"))
        tl.wait(pending)

    with pytest.raises(IpcqDeadlock) as info:
        run_ring(topo, kernel)
    assert "sip0.cube0.pe0 E: waits for a credit from sip1.cube0.pe0 (send #4); data #0 from sip1.cube0.pe0" in str(
        info.value
    )


def test_without_backpressure_overrunning_the_ring_is_an_error(topo):
    def kernel(tl):
        if tl.ctx.sip == 0:
            for _ in range(3):
                tl.send("E", tl.zeros((4,), "f32"))

    with pytest.raises(KernelError, match="backpressure is off"):
        run_ring(topo, kernel, n_slots=2, plan_fields={"backpressure": False})
