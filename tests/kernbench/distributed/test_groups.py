"""Process groups, point-to-point and all-to-all: results against numpy on ring and torus systems."""

import numpy as np
import pytest

from kernbench.ccl import load_ccl_config
from kernbench.engine import Engine, IpcqDeadlock
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.runtime.multiprocessing import SpawnException
from kernbench.topology import load_topology
from tests.kernbench.helpers import DEFAULT_TOPOLOGY, with_sips

LEADER = DPPolicy(num_cubes=1, num_pes=1)


@pytest.fixture(scope="module")
def base():
    return load_topology(DEFAULT_TOPOLOGY)


def run(topo, worker, *args, algorithm: str | None = None) -> dict:
    ccl = load_ccl_config() if algorithm is None else load_ccl_config().with_algorithm(algorithm)
    torch = RuntimeContext(Engine(topo), ccl)
    torch.multiprocessing.spawn(worker, args=(torch, *args))
    return dict(torch.multiprocessing.results)


def values(rank: int, n: int) -> np.ndarray:
    return ((np.arange(n) * 5 + rank * 3) % 11).astype(np.float32)


def tensor(torch, data):
    t = torch.zeros((len(data),), "f32", dp=LEADER)
    t.copy_(data)
    return t


def collectives(rank, torch, groups, n):
    """Every ring collective on each group this rank is in, concurrently with the other groups."""
    dist = torch.distributed
    dist.init_process_group()
    made = [dist.new_group(g) for g in groups]
    out = {}
    for g in made:
        me = dist.get_rank(g)
        if me < 0:
            continue
        size = dist.get_world_size(g)
        x = tensor(torch, values(rank, n))
        dist.all_reduce(x, group=g)
        out[f"{g.gid}.all_reduce"] = x.numpy()
        b = tensor(torch, values(rank, n))
        dist.broadcast(b, group=g, group_src=size - 1)
        out[f"{g.gid}.broadcast"] = b.numpy()
        gathered = torch.zeros((n * size,), "f32", dp=LEADER)
        dist.all_gather_into_tensor(gathered, tensor(torch, values(rank, n)), group=g)
        out[f"{g.gid}.all_gather"] = gathered.numpy()
        scattered = torch.zeros((n,), "f32", dp=LEADER)
        dist.reduce_scatter_tensor(scattered, tensor(torch, values(rank, n * size)), group=g)
        out[f"{g.gid}.reduce_scatter"] = scattered.numpy()
        r = tensor(torch, values(rank, n))
        dist.reduce(r, group=g, group_dst=0)
        out[f"{g.gid}.reduce"] = r.numpy()
        dist.barrier(group=g)
    return out


@pytest.mark.parametrize(
    ("sips", "kind", "groups", "algorithm"),
    [
        (8, "ring_1d", [[0, 1, 2, 3], [4, 5, 6, 7], [1, 3, 5, 7], [6, 2]], None),
        (16, "torus_2d", [[2, 3, 6, 7], [0, 1, 4, 5], [10, 11, 14, 15]], "mesh_allreduce"),
    ],
    ids=["ring", "torus-mesh"],
)
def test_group_collectives_match_numpy(base, sips, kind, groups, algorithm):
    n = 300
    got = run(with_sips(base, sips, kind), collectives, groups, n, algorithm=algorithm)
    for gid, members in enumerate(groups, 1):
        total = sum(values(r, n) for r in members)
        for i, rank in enumerate(members):
            mine = got[rank]
            np.testing.assert_array_equal(mine[f"{gid}.all_reduce"], total)
            np.testing.assert_array_equal(mine[f"{gid}.broadcast"], values(members[-1], n))
            np.testing.assert_array_equal(mine[f"{gid}.all_gather"], np.concatenate([values(r, n) for r in members]))
            whole = sum(values(r, n * len(members)) for r in members)
            np.testing.assert_array_equal(mine[f"{gid}.reduce_scatter"], whole[i * n : (i + 1) * n])
            want = total if i == 0 else values(rank, n)  # only the root gets the reduction
            np.testing.assert_array_equal(mine[f"{gid}.reduce"], want)


def test_a_2d_algorithm_on_a_group_that_is_not_a_block_is_one_line(base):
    def worker(_rank, torch):
        dist = torch.distributed
        dist.init_process_group()
        g = dist.new_group([0, 1, 2, 3])  # a row of the 4x4 grid: not the 2x2 block mesh_allreduce runs on
        if dist.get_rank(g) >= 0:
            dist.all_reduce(tensor(torch, values(0, 8)), group=g)

    with pytest.raises(SpawnException) as err:
        run(with_sips(base, 16, "torus_2d"), worker, algorithm="mesh_allreduce")
    assert "ccl algorithm 'mesh_allreduce' on the group of ranks [0, 1, 2, 3]: its ranks are not a 2x2 block" in str(
        err.value
    )


def test_ranks_that_create_groups_differently_are_named(base):
    def worker(rank, torch):
        torch.distributed.init_process_group()
        torch.distributed.new_group([0, 1] if rank == 0 else [0, 1, 2])

    with pytest.raises(SpawnException, match=r"rank 1 created group 1 with ranks \[0, 1, 2\], another rank created"):
        run(with_sips(base, 4), worker)


def test_two_groups_of_one_rank_run_at_once_and_one_group_in_order(base):
    """Rank 0 is in groups {0, 1} and {0, 2}: their all-reduces, started together, overlap (each group's
    collectives have a PE of their own), where one after the other they take about twice as long. Two on one group
    (asynchronous) are both right: the second waits for the first on the group's stream."""

    def worker(rank, torch, n, together):
        dist = torch.distributed
        dist.init_process_group()
        a, b = dist.new_group([0, 1]), dist.new_group([0, 2])
        x, y = tensor(torch, values(rank, n)), tensor(torch, values(rank + 10, n))
        dist.barrier()
        start = torch.engine.now()
        if rank == 0:
            if together:
                works = [dist.all_reduce(x, group=a, async_op=True), dist.all_reduce(y, group=b, async_op=True)]
                for work in works:
                    work.wait()
            else:
                dist.all_reduce(x, group=a)
                dist.all_reduce(y, group=b)
        elif rank in (1, 2):
            dist.all_reduce(x if rank == 1 else y, group=a if rank == 1 else b)
        took = torch.engine.now() - start
        z = tensor(torch, values(rank, n))
        if rank in (0, 1):  # two on one group, asynchronous: in order, both right
            first = dist.all_reduce(z, group=a, async_op=True)
            second = dist.all_reduce(x, group=a, async_op=True)
            first.wait()
            second.wait()
        return took, x.numpy(), y.numpy(), z.numpy()

    n = 1 << 16
    topo = with_sips(base, 4)
    together, apart = run(topo, worker, n, True), run(topo, worker, n, False)
    assert together[0][0] < 0.7 * apart[0][0]  # 8.3 against 13.0 us: the two launches' host commands still queue
    pair = values(0, n) + values(1, n)
    np.testing.assert_array_equal(together[0][3], pair)
    np.testing.assert_array_equal(together[0][1], 2 * pair)  # x was all-reduced twice on {0, 1}
    np.testing.assert_array_equal(together[2][2], values(10, n) + values(12, n))


def exchange(rank, torch, n, tags):
    """Rank r sends three messages to r + 1 (in order, with ``tags``) and receives three from r - 1."""
    dist = torch.distributed
    dist.init_process_group()
    world = dist.get_world_size()
    out = []
    for k, tag in enumerate(tags):
        x = tensor(torch, values(rank * 10 + k, n))
        y = torch.zeros((n,), "f32", dp=LEADER)
        ops = [
            dist.P2POp(dist.isend, x, (rank + 1) % world, tag=tag),
            dist.P2POp(dist.irecv, y, (rank - 1) % world, tag=k),
        ]
        for work in dist.batch_isend_irecv(ops):
            work.wait()
        out.append(y.numpy())
    return out


@pytest.mark.parametrize(("sips", "kind"), [(4, "ring_1d"), (9, "torus_2d")])
def test_point_to_point_arrives_in_order(base, sips, kind):
    n = 20_000  # several pieces
    got = run(with_sips(base, sips, kind), exchange, n, [0, 1, 2])
    for rank, msgs in got.items():
        for k, msg in enumerate(msgs):
            np.testing.assert_array_equal(msg, values(((rank - 1) % sips) * 10 + k, n))


def test_a_tag_that_does_not_match_is_an_error_naming_both_ranks(base):
    with pytest.raises(SpawnException, match=r"recv: rank 1 expects 64 elements, tag 1 from rank 0, which sent 64 "):
        run(with_sips(base, 2), exchange, 64, [0, 7])


def test_send_and_recv_and_a_send_without_its_receive_is_a_deadlock_report(base):
    def pair(rank, torch):
        dist = torch.distributed
        dist.init_process_group()
        if rank == 0:
            dist.send(tensor(torch, values(0, 100)), dst=1)
            return None
        y = torch.zeros((100,), "f32", dp=LEADER)
        assert dist.recv(y, src=0) == 0
        return y.numpy()

    np.testing.assert_array_equal(run(with_sips(base, 2), pair)[1], values(0, 100))

    def lonely(rank, torch):
        torch.distributed.init_process_group()
        if rank == 0:
            torch.distributed.send(tensor(torch, values(0, 100)), dst=1)

    with pytest.raises(IpcqDeadlock, match=r"sip0\.cube0\.pe1 ack1: waits for data #0 from sip1\.cube0\.pe1"):
        run(with_sips(base, 2), lonely)  # rank 0's send waits for the acknowledgement of a receive never made


def a2a(rank, torch, splits):
    """Rank r sends ``splits[r][j]`` elements to rank j."""
    dist = torch.distributed
    dist.init_process_group()
    world = dist.get_world_size()
    send = splits[rank]
    recv = [splits[j][rank] for j in range(world)]
    x = tensor(torch, np.concatenate([values(rank * 100 + j, c) for j, c in enumerate(send)]))
    y = torch.zeros((sum(recv),), "f32", dp=LEADER)
    dist.all_to_all_single(y, x, output_split_sizes=recv, input_split_sizes=send)
    return y.numpy()


@pytest.mark.parametrize(("sips", "kind"), [(4, "ring_1d"), (4, "torus_2d"), (6, "ring_1d")])
def test_all_to_all_with_uneven_splits(base, sips, kind):
    rng = np.random.default_rng(sips)
    splits = [[int(c) for c in rng.integers(0, 40_000, sips)] for _ in range(sips)]
    got = run(with_sips(base, sips, kind), a2a, splits)
    for rank in range(sips):
        want = np.concatenate([values(j * 100 + rank, splits[j][rank]) for j in range(sips)])
        np.testing.assert_array_equal(got[rank], want)


def test_all_to_all_sizes_that_disagree_are_named(base):
    def worker(rank, torch):
        dist = torch.distributed
        dist.init_process_group()
        x = tensor(torch, values(rank, 8))
        y = torch.zeros((8,), "f32", dp=LEADER)
        dist.all_to_all_single(y, x, output_split_sizes=[4, 4], input_split_sizes=[4, 4] if rank else [2, 6])

    with pytest.raises(SpawnException, match="all_to_all_single: rank 1 expects 4 elements from rank 0, which sent 6"):
        run(with_sips(base, 2), worker)


def test_a_rank_outside_a_group_cannot_use_it(base):
    def worker(rank, torch):
        dist = torch.distributed
        dist.init_process_group()
        g = dist.new_group([1])
        if rank == 0:
            dist.all_reduce(tensor(torch, values(0, 4)), group=g)

    with pytest.raises(SpawnException, match=r"all_reduce: rank 0 is not in ProcessGroup\(1: ranks \[1\]\)"):
        run(with_sips(base, 2), worker)
