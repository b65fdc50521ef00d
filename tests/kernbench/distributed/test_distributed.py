"""torch.distributed and torch.multiprocessing.spawn with rank = SIP, in one process."""

import math

import numpy as np
import pytest

from kernbench.ccl import load_ccl_config
from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.runtime.multiprocessing import SpawnException
from tests.kernbench.closed_forms import cross_sip_dma_fixed_ns, probe_case_parts
from tests.kernbench.helpers import with_sips

from .workloads import spawn_allreduce, spawn_collectives, values

NUMPY_OPS = {"sum": np.sum, "max": np.max, "min": np.min, "avg": np.mean}


@pytest.mark.parametrize(("sips", "layout"), [(2, "ring_1d"), (3, "ring_1d"), (4, "ring_1d"), (4, "torus_2d")])
@pytest.mark.parametrize("op", ["sum", "max", "avg"])
def test_all_reduce_gives_every_rank_the_reduction(topo, sips, layout, op):
    got = spawn_allreduce(with_sips(topo, sips, layout), n=1000, op=op)
    want = NUMPY_OPS[op](np.stack([values(r, 1000) for r in range(sips)]), axis=0)
    assert sorted(got) == list(range(sips))
    for rank, out in got.items():
        assert (out["rank"], out["world"]) == (rank, sips)
        np.testing.assert_array_equal(out["result"], want)  # small integers: every sum is exact, avg one rounding
    assert len({out["result"].tobytes() for out in got.values()}) == 1  # bit-identical on every rank


def test_large_messages_are_cut_into_slots(topo):
    """64 Ki elements per chunk need several 64 KiB slots per ring step."""
    got = spawn_allreduce(with_sips(topo, 2), n=200_000, dtype="f32")
    want = values(0, 200_000) + values(1, 200_000)
    for out in got.values():
        np.testing.assert_array_equal(out["result"], want)


def test_a_shard_bigger_than_the_staging_area_is_reduced_block_by_block(topo):
    """3 Mi f32 values (12 MiB) on one PE: the algorithm runs on 1 MiB blocks in turn; exact sums everywhere."""
    n = 3 << 20
    got = spawn_allreduce(with_sips(topo, 2), n=n, dtype="f32")
    want = values(0, n) + values(1, n)
    for out in got.values():
        np.testing.assert_array_equal(out["result"], want)


def test_time_grows_with_size_and_ranks(topo):
    small = spawn_allreduce(with_sips(topo, 2), n=1_000)[0]["ns"]
    big = spawn_allreduce(with_sips(topo, 2), n=100_000)[0]["ns"]
    more = spawn_allreduce(with_sips(topo, 4), n=100_000)[0]["ns"]
    assert small < big < more


def test_spawn_exception_names_the_failed_ranks(topo):
    engine = Engine(with_sips(topo, 3))
    torch = RuntimeContext(engine)

    def fn(rank):
        if rank != 1:
            raise ValueError(f"bad input on {rank}")
        return rank

    with pytest.raises(SpawnException) as info:
        torch.multiprocessing.spawn(fn, nprocs=3)
    errors = info.value.errors
    assert sorted(errors) == [0, 2]
    assert all(isinstance(e, ValueError) for e in errors.values())
    assert [str(errors[r]) for r in (0, 2)] == ["bad input on 0", "bad input on 2"]
    line = __file__.rsplit("/", 1)[-1]
    assert str(info.value).startswith(f"rank 0 failed: ValueError: bad input on 0 (at {line}:")
    assert "; rank 2 failed: ValueError: bad input on 2" in str(info.value)


def test_spawn_from_host_code_is_refused(topo):
    engine = Engine(topo)
    torch = RuntimeContext(engine)
    seen = []

    def fn(_rank):
        try:
            torch.multiprocessing.spawn(lambda _r: None)
        except RuntimeError as exc:
            seen.append(str(exc))

    torch.multiprocessing.spawn(fn, nprocs=1)
    assert seen == [
        "spawn: call it from the top level of the script (every process runs it), not from host code "
        "that is already running on a SIP"
    ]


def test_api_errors(topo):
    engine = Engine(topo)
    torch = RuntimeContext(engine)
    seen = []

    def fn(rank):
        dist = torch.distributed
        for call in (
            dist.get_rank,
            lambda: dist.init_process_group("nccl"),
            lambda: dist.init_process_group("ahbm", rank=1 - rank),
        ):
            try:
                call()
            except (RuntimeError, ValueError) as exc:
                seen.append(str(exc))
        dist.init_process_group()
        sharded = torch.zeros((4, 64), "f32")
        try:
            dist.all_reduce(sharded, op="prod")
        except ValueError as exc:
            seen.append(str(exc))
        dist.destroy_process_group()

    torch.multiprocessing.spawn(fn, nprocs=1)
    assert seen == [
        "sip0: call torch.distributed.init_process_group() first",
        "init_process_group: backend must be 'ahbm', got 'nccl'",
        "init_process_group: rank = SIP: this worker is rank 0 of 2; got rank=1, world_size=None",
        "all_reduce: op must be one of sum, max, min, avg, got 'prod'",
    ]


@pytest.mark.parametrize("n", [16_384, 262_144])
@pytest.mark.parametrize("sips", [2, 4, 8])
def test_ring_all_reduce_follows_the_alpha_beta_model(topo, sips, n):
    """Communication time vs the alpha-beta model 2(p-1)a + 2(p-1)/p * bytes/B (a = inter-SIP latency, B its
    bandwidth), for the pipelined ring: 2(p-1) steps of chunks c = 4n/p bytes in m slot-size pieces of s bytes.

    The launch is the same on one SIP (a ring of one has nothing to do), so it is measured there and subtracted.
    Lower bound: every node's link carries its 2(p-1) chunks one after another and the last byte still needs a,
    and the last piece crosses 2(p-1) links in turn: max(2(p-1) c/B + a, 2(p-1)(a + s/B)). With one piece per
    chunk that is the model itself; with many, pipelining hides the per-step latencies and the time drops below
    the model (8 SIPs, 1 MiB: 0.87x). Upper bound: the steps one after another (the model) plus, per piece, one
    cross-SIP DMA's fixed cost and the PE's memory traffic for it (a load and a store of a piece, closed form).
    Measured: 1.27-1.49x the model with one piece per chunk, 0.87-1.15x with 2-8.
    """
    link = topo.system.inter_sip_link
    local = spawn_allreduce(with_sips(topo, 1), n=n)[0]["ns"]
    took = max(out["ns"] for out in spawn_allreduce(with_sips(topo, sips), n=n).values()) - local
    steps, chunk, slot = 2 * (sips - 1), 4 * n // sips, load_ccl_config().selected().slot_size
    piece = min(slot, chunk)
    model = steps * link.latency_ns + steps * chunk / link.bandwidth_gbs
    lower = max(
        steps * chunk / link.bandwidth_gbs + link.latency_ns, steps * (link.latency_ns + piece / link.bandwidth_gbs)
    )
    memory = sum(probe_case_parts(topo, piece)["pe-local-hbm"])  # one piece from or to HBM
    upper = model + steps * math.ceil(chunk / slot) * (cross_sip_dma_fixed_ns(topo) + 2 * memory)
    assert lower <= took <= upper


@pytest.mark.parametrize("sips", [2, 3, 4])
def test_broadcast_all_gather_reduce_scatter_and_async(topo, sips):
    n = 700
    got = spawn_collectives(with_sips(topo, sips), n=n)
    inputs = [np.concatenate([values(r + k, n) for k in range(sips)]) for r in range(sips)]
    for rank, out in got.items():
        np.testing.assert_array_equal(out["broadcast"], values(1, n))
        np.testing.assert_array_equal(out["gathered"], np.concatenate([values(r, n) for r in range(sips)]))
        part = slice(rank * n, (rank + 1) * n)
        np.testing.assert_array_equal(out["rs_sum"], np.sum([x[part] for x in inputs], axis=0))  # exact integers
        np.testing.assert_array_equal(out["rs_max"], np.max([x[part] for x in inputs], axis=0))
        np.testing.assert_array_equal(out["allreduce"], np.sum([values(r, n) for r in range(sips)], axis=0))
        assert out["pending"] is False  # async_op returned before the collective finished
