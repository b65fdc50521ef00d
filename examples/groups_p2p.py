"""Process groups and point-to-point on 4 SIPs: two groups of two all-reduce at once, then messages round a ring.

``dist.new_group(ranks)`` is called by every rank, for every group, in the same order (as in PyTorch); a group's
collectives run on PEs of its own, so the two groups' all-reduces overlap. ``dist.send`` ends once the receiver
has the data (NCCL's semantics), so a ring where everybody sends first goes through ``batch_isend_irecv``.

    python examples/groups_p2p.py
"""

import numpy as np

from kernbench.engine import Engine
from kernbench.runtime import DPPolicy, RuntimeContext
from kernbench.topology import DEFAULT_TOPOLOGY_PATH, load_topology

N = 4096
LEADER = DPPolicy(num_cubes=1, num_pes=1)  # point-to-point and group buffers: one shard on PE 0 of cube 0


def worker(rank: int, torch: RuntimeContext) -> bool:
    dist = torch.distributed
    dist.init_process_group()
    world = dist.get_world_size()
    pairs = [dist.new_group([0, 1]), dist.new_group([2, 3])]
    mine = pairs[rank // 2]
    x = torch.zeros((N,), "f32", dp=LEADER)
    x.copy_(np.full(N, rank, np.float32))
    dist.all_reduce(x, group=mine)  # ranks 0 and 1 get 0 + 1, ranks 2 and 3 get 2 + 3
    ok = bool((x.numpy() == sum(dist.get_process_group_ranks(mine))).all())

    if rank == 0:  # one message, rank 0 -> rank 3
        dist.send(x, dst=3)
    elif rank == 3:
        got = torch.zeros((N,), "f32", dp=LEADER)
        dist.recv(got, src=0)
        ok &= bool((got.numpy() == 1).all())

    out, back = x, torch.zeros((N,), "f32", dp=LEADER)  # every rank sends east and receives from the west
    ops = [dist.P2POp(dist.isend, out, (rank + 1) % world), dist.P2POp(dist.irecv, back, (rank - 1) % world)]
    for work in dist.batch_isend_irecv(ops):
        work.wait()
    west = (rank - 1) % world
    return ok and bool((back.numpy() == (1 if west < 2 else 5)).all())  # the west rank's pair sum


def main() -> None:
    topo = load_topology(DEFAULT_TOPOLOGY_PATH, sips=4)  # as --sips 4: a ring of 4 SIPs
    torch = RuntimeContext(Engine(topo))
    torch.multiprocessing.spawn(worker, args=(torch,))
    results = torch.multiprocessing.results
    print(f"{len(results)} ranks, groups [0, 1] and [2, 3]: {results}")
    print("PASS" if all(results.values()) else "FAIL")


if __name__ == "__main__":
    main()
