"""The mock runtime: program layout, direction matching, backpressure, receives, deadlocks and errors."""

import numpy as np
import pytest

from kernbench.ccl.testing import MockDeadlock, run_kernel_in_mock
from kernbench.engine import KernelError


def zeros(count, n=4, dtype=np.float32):
    return [np.zeros(n, dtype) for _ in range(count)]


def test_two_rank_ring_lands_east_sends_on_west_and_west_sends_on_east():
    """ADR-0025: in a ring of two, E and W point at the same peer and must still stay apart."""

    def kernel(ptr, tl):
        tl.send("E", tl.zeros((2,)) + (10.0 * tl.rank + 1))
        tl.send("W", tl.zeros((2,)) + (10.0 * tl.rank + 2))
        from_west = tl.recv("W", (2,), "f32")  # the peer's E send
        from_east = tl.recv("E", (2,), "f32")  # the peer's W send
        tl.store(ptr, tl.cat([from_west, from_east]))

    out = run_kernel_in_mock(kernel, 2, "ring_1d", zeros(2))
    assert out[0].tolist() == [11, 11, 12, 12]
    assert out[1].tolist() == [1, 1, 2, 2]


def test_recv_async_matches_tiles_in_claim_order_whatever_the_wait_order():
    def kernel(ptr, tl):
        if tl.rank == 0:
            for value in (1.0, 2.0, 3.0):
                tl.send("E", tl.zeros((1,)) + value)
            return
        first, second = tl.recv_async("W", 1, "f32"), tl.recv_async("W", 1, "f32")
        late = tl.recv_async("W", 1, "f32", dst=12)
        b = tl.wait(second)
        a = tl.wait(first)
        assert tl.wait(late) is None
        tl.store(ptr, tl.cat([a, b]))

    out = run_kernel_in_mock(kernel, 2, "ring_1d", zeros(2), n_slots=2)
    assert out[1].tolist() == [1, 2, 0, 3]
    # slots free in order: with one slot, the second tile cannot land before the first is waited for
    with pytest.raises(MockDeadlock, match=r"rank 1 cube 0 pe 0: recv on 'W' \(its queue holds 1 tiles\)"):
        run_kernel_in_mock(kernel, 2, "ring_1d", zeros(2), n_slots=1)


def test_recv_into_dst_copies_the_tile_into_memory():
    def kernel(ptr, tl):
        if tl.rank == 0:
            tl.send("E", tl.load(ptr, 2, "f32"))
        else:
            assert tl.recv("W", (2,), "f32", dst=ptr + 8) is None

    inputs = [np.array([5, 6, 0, 0], np.float32), np.array([1, 2, 3, 4], np.float32)]
    out = run_kernel_in_mock(kernel, 2, "ring_1d", inputs)
    assert out[1].tolist() == [1, 2, 5, 6]
    assert out[0].tolist() == [5, 6, 0, 0]


def test_a_handle_waited_for_twice_is_an_error():
    def kernel(_ptr, tl):
        if tl.rank == 0:
            tl.send("E", tl.zeros((1,)))
        else:
            handle = tl.recv_async("W", 1, "f32")
            tl.wait(handle)
            tl.wait(handle)

    with pytest.raises(KernelError, match="already waited for"):
        run_kernel_in_mock(kernel, 2, "ring_1d", zeros(2))


def test_send_async_and_load_async_give_what_send_and_load_give():
    """The mock offers the engine's asynchronous forms: a send lands at once, a load reads at once."""

    def kernel(ptr, tl):
        if tl.rank == 0:
            handle = tl.send_async("E", tl.wait(tl.load_async(ptr, (2,), "f32")) * 2.0)
            assert tl.wait(handle) is None
        else:
            tl.store(ptr, tl.recv("W", 2, "f32"))

    out = run_kernel_in_mock(kernel, 2, "ring_1d", [np.array([1, 2], np.float32), np.zeros(2, np.float32)])
    assert out[1].tolist() == [2.0, 4.0]


@pytest.mark.parametrize(("n_slots", "sends_before_first_recv"), [(1, 1), (2, 2), (None, 4)])
def test_a_send_waits_while_the_receivers_queue_holds_n_slots_tiles(n_slots, sends_before_first_recv):
    log = []

    def kernel(_ptr, tl):
        for i in range(4):
            if tl.rank == 0:
                tl.send("E", tl.zeros((1,)) + i)
                log.append("sent")
            else:
                log.append(("got", tl.recv("W", 1, "f32").value[0]))

    run_kernel_in_mock(kernel, 2, "ring_1d", zeros(2), n_slots=n_slots)
    assert log.index(("got", 0)) == sends_before_first_recv
    assert [entry[1] for entry in log if entry != "sent"] == [0, 1, 2, 3]


def test_every_rank_receiving_first_is_a_deadlock_naming_ranks_and_directions():
    def kernel(_ptr, tl):
        got = tl.recv("W", 1, "f32")
        tl.send("E", got)

    with pytest.raises(MockDeadlock) as info:
        run_kernel_in_mock(kernel, 3, "ring_1d", zeros(3))
    message = str(info.value)
    for rank in range(3):
        assert (
            f"rank {rank} cube 0 pe 0: recv on 'W' (its queue holds 0 tiles); its receive queues: E=0, W=0" in message
        )
    assert [(b["node"], b["kind"], b["direction"]) for b in info.value.blocked] == [
        ((r, 0, 0), "recv", "W") for r in range(3)
    ]


def test_full_queues_are_a_deadlock_naming_the_blocked_senders():
    def kernel(_ptr, tl):
        for _ in range(2):
            tl.send("E", tl.zeros((1,)))
        tl.recv("W", 1, "f32")

    with pytest.raises(
        MockDeadlock,
        match=r"rank 0 cube 0 pe 0: send on 'E' to \(1, 0, 0\) \(its queue holds 1 "
        r"tiles\); its receive queues: E=0, W=1",
    ):
        run_kernel_in_mock(kernel, 2, "ring_1d", zeros(2), n_slots=1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda tl: tl.send("N", tl.zeros((1,))),
            r"tl.send on direction 'N': rank 0 cube 0 pe 0 sends on \['E', 'W'\]",
        ),
        (
            lambda tl: tl.recv("parent", 1),
            r"tl.recv on direction 'parent': rank 0 cube 0 pe 0 receives on \['E', 'W'\]",
        ),
    ],
)
def test_an_unknown_direction_names_the_direction_and_the_program(call, message):
    with pytest.raises(KernelError, match="failed on sip0 cube 0 pe 0: ValueError: " + message):
        run_kernel_in_mock(lambda _ptr, tl: call(tl), 2, "ring_1d", zeros(2))


def test_a_kernel_exception_propagates_naming_the_program():
    def kernel(_ptr, tl):
        if tl.program_id(1) == 1 and tl.rank == 1:
            raise ZeroDivisionError("boom")

    with pytest.raises(KernelError, match="failed on sip1 cube 1 pe 0: ZeroDivisionError: boom") as info:
        run_kernel_in_mock(kernel, 8, "ring_1d", zeros(8), pes_per_cube=2, cubes_per_sip=2)
    assert (info.value.sip, info.value.cube, info.value.pe) == (1, 1, 0)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda tl: tl.send("E", tl.zeros((4,))), "tl.send of 16 bytes on 'E': a slot holds 8 bytes"),
        (lambda tl: tl.load(12, 2, "f32"), "tl.load of 8 bytes at 12: outside rank 0 cube 0 pe 0's 16-byte memory"),
        (lambda tl: tl.store(-4, tl.zeros((1,))), "tl.store of 4 bytes at -4: outside"),
        (
            lambda tl: tl.recv("W", 3, "f32"),
            r"tl.recv on 'W' of \(3,\) f32 \(12 bytes\): the tile that arrived holds 4",
        ),
    ],
)
def test_slot_size_memory_bounds_and_tile_sizes_are_checked(call, message):
    def kernel(_ptr, tl):
        if tl.rank == 1:
            tl.send("E", tl.zeros((1,)))
        else:
            call(tl)

    with pytest.raises(KernelError, match=message):
        run_kernel_in_mock(kernel, 2, "ring_1d", zeros(2), slot_size=8)


def test_tiles_nobody_receives_are_an_error():
    with pytest.raises(RuntimeError, match=r"tiles never received .*: rank 1 cube 0 pe 0 'W': 1"):
        run_kernel_in_mock(
            lambda _ptr, tl: tl.send("E", tl.zeros((1,))) if tl.rank == 0 else None, 2, "ring_1d", zeros(2)
        )


def test_programs_are_ranks_cubes_and_pes_in_row_major_order():
    def kernel(ptr, tl):
        ids = [tl.rank, tl.program_id(0), tl.program_id(1), tl.num_programs(0), tl.num_programs(1)]
        tl.store(ptr, np.array(ids, np.int32), "i32")

    out = run_kernel_in_mock(kernel, 12, "ring_1d", zeros(12, 5, np.int32), pes_per_cube=3, cubes_per_sip=2)
    assert [o.tolist() for o in out] == [[r, p, c, 3, 2] for r in range(2) for c in range(2) for p in range(3)]
    one_sip = run_kernel_in_mock(kernel, 4, "ring_1d", zeros(4, 5, np.int32), pes_per_cube=2, cubes_per_sip=2)
    assert [o.tolist() for o in one_sip] == [[0, p, c, 2, 2] for c in range(2) for p in range(2)]


def test_without_cubes_per_sip_every_program_is_a_rank_as_in_the_seeds():
    """Seed 000, kernbench/ccl/testing.py ``_MockRankState`` / ``_MockTL.program_id``: ``pes_per_cube == 0`` puts
    all ranks in one cube (program_id(0) = rank, num_programs(0) = world size), ``pes_per_cube = k`` groups them k
    to a cube (program_id(1) = rank // k)."""

    def kernel(ptr, tl):
        ids = [tl.rank, tl.program_id(axis=0), tl.program_id(axis=1), tl.num_programs(axis=0), tl.num_programs(axis=1)]
        tl.store(ptr, np.array(ids, np.int32), "i32")

    ranks = run_kernel_in_mock(kernel, 3, "ring_1d", zeros(3, 5, np.int32))
    assert [o.tolist() for o in ranks] == [[r, r, 0, 3, 1] for r in range(3)]
    cubes = run_kernel_in_mock(kernel, 6, "ring_1d", zeros(6, 5, np.int32), pes_per_cube=2)
    assert [o.tolist() for o in cubes] == [[r, r % 2, r // 2, 2, 3] for r in range(6)]


def test_a_tile_is_seen_at_zero_and_at_rank_times_its_size():
    """Seed 000 ``_MockRankState``: rank r's tile at ``t_ptr + r * nbytes`` (t_ptr = 0); this project's kernels
    use the pointer itself."""

    def kernel(ptr, tl):
        rank = tl.program_id(axis=1) * tl.num_programs(axis=0) + tl.program_id(axis=0)
        seeds = tl.load(ptr + rank * 8, 2, "f32")
        own = tl.load(ptr, 2, "f32")
        tl.store(ptr + rank * 8, seeds + own)

    out = run_kernel_in_mock(kernel, 4, "ring_1d", [np.array([r, 1], np.float32) for r in range(4)], pes_per_cube=2)
    assert [o.tolist() for o in out] == [[2 * r, 2] for r in range(4)]
    with pytest.raises(
        KernelError,
        match=r"tl.load of 8 bytes at 4: outside rank 1 cube 0 pe 0's 8-byte memory "
        r"\(also seen at 8..16\)",
    ):
        run_kernel_in_mock(lambda _ptr, tl: tl.load(4, 2, "f32") if tl.rank else None, 2, "none", zeros(2, 2))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((10, "ring_1d", zeros(10), (), 4), {}, "10 ranks do not fill cubes of 4 PEs"),
        ((12, "ring_1d", zeros(12), (), 2), {"cubes_per_sip": 4}, "12 PEs do not split into SIPs of 4 cubes x 2 PEs"),
        ((2, "ring_1d", zeros(3)), {}, "3 inputs for world_size 2"),
        ((2, "ring_1d", zeros(2)), {"cubes_per_sip": 2}, "cubes_per_sip needs pes_per_cube"),
    ],
)
def test_layout_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_kernel_in_mock(lambda _ptr, _tl: None, *args, **kwargs)


def test_loads_and_stores_work_by_byte_offset_in_the_programs_memory():
    def kernel(ptr, tl):
        block = tl.load(ptr + 4, (2, 2), "f32", row_stride=12)  # columns 1..2 of a 2x3 row-major matrix
        tl.store(ptr, block.to("i32"))

    out = run_kernel_in_mock(kernel, 1, "ring_1d", [np.arange(6, dtype=np.float32)])
    assert out[0].view(np.int32)[:4].tolist() == [1, 2, 4, 5]


def test_f16_tiles_round_as_the_hardware_stores_them():
    def kernel(ptr, tl):
        tl.store(ptr, tl.load(ptr, 3, "f16") + 1.0)

    x = np.array([2048, 0.1, -3], np.float16)
    out = run_kernel_in_mock(kernel, 1, "ring_1d", [x])
    assert out[0].dtype == np.float16
    assert out[0].tolist() == (x.astype(np.float32) + 1).astype(np.float16).tolist()
    assert out[0][0] == 2048  # 2049 is not an f16: ties to even


def test_the_module_adds_its_own_pe_edges_and_custom_directions_land_on_the_way_back():
    class Chain:
        @staticmethod
        def neighbors(rank, geometry, pes):
            edges = {}
            for cube, pe in pes:
                up = {"up": (rank, cube, pe + 1)} if pe + 1 < geometry.pes_per_cube else {}
                edges[(cube, pe)] = up | ({"down": (rank, cube, pe - 1)} if pe > 0 else {})
            return edges

    def kernel(ptr, tl):
        x = tl.load(ptr, 1, "f32")
        if tl.program_id(0) > 0:
            x = x + tl.recv("down", 1, "f32")  # "up" from below lands on "down", the direction back at the sender
        if tl.program_id(0) < tl.num_programs(0) - 1:
            tl.send("up", x)
        tl.store(ptr, x)

    inputs = [np.array([p + 1], np.float32) for p in range(4)]
    out = run_kernel_in_mock(kernel, 4, "none", inputs, pes_per_cube=4, cubes_per_sip=1, module=Chain)
    assert [o[0] for o in out] == [1, 3, 6, 10]
