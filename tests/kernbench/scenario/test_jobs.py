"""Jobs of a scenario: each job's world is its own SIPs (rank r on its r-th SIP) and jobs run at once on one
fabric, so two rings that share links slow each other down while two that do not are not touched."""

import json

import numpy as np
import pytest

from kernbench.ccl import load_ccl_config
from kernbench.cli.main import main
from kernbench.engine import Engine
from kernbench.runtime import DPPolicy
from kernbench.runtime.jobs import Jobs
from tests.kernbench.helpers import DEFAULT_TOPOLOGY, with_sips

ONE_PE = DPPolicy(num_cubes=1, num_pes=1)


def ranks_and_messages(rank: int, torch) -> dict:
    """What a rank of a job sees: its rank and world, a broadcast from rank 1, a group of ranks 0 and 2, a message
    from rank 0 to rank 2, and an all-reduce."""
    dist = torch.distributed
    dist.init_process_group("ahbm")
    t = torch.zeros((64,), "f32", dp=ONE_PE)
    t.copy_(np.full(64, 10.0 * rank, np.float32))
    dist.broadcast(t, src=1)
    broadcast = float(t.numpy()[0])
    pair = dist.new_group([0, 2])
    got = None
    if rank == 0:
        dist.send(t, dst=2)
    elif rank == 2:
        got = dist.recv(t, src=0)
    t.copy_(np.full(64, rank + 1.0, np.float32))
    dist.all_reduce(t)
    return {
        "rank": dist.get_rank(),
        "world": dist.get_world_size(),
        "sip": torch.current_device(),
        "broadcast": broadcast,
        "sum": float(t.numpy()[0]),
        "pair": dist.get_process_group_ranks(pair) if rank in (0, 2) else None,
        "in_pair": dist.get_rank(pair),
        "from": got,
    }


def program(torch) -> dict:
    torch.multiprocessing.spawn(ranks_and_messages, args=(torch,))
    return torch.multiprocessing.results


def test_a_job_has_its_own_world_on_its_sips_and_runs_beside_another(topo):
    eng = Engine(with_sips(topo, 8))
    jobs = Jobs(eng)
    ring = load_ccl_config().with_algorithm("ring_allreduce_tcm")
    first, second = jobs.context(ring, [5, 1, 6]), jobs.context(ring, [0, 2, 3, 7])
    (ok1, a), (ok2, b) = jobs.run([lambda: program(first), lambda: program(second)])
    assert ok1, a
    assert ok2, b
    assert [(r["rank"], r["world"], r["sip"]) for r in a.values()] == [(0, 3, 5), (1, 3, 1), (2, 3, 6)]
    assert [r["broadcast"] for r in a.values()] == [10.0] * 3  # job rank 1's, on sip1
    assert [r["sum"] for r in a.values()] == [6.0] * 3  # 1 + 2 + 3
    assert [r["sum"] for r in b.values()] == [10.0] * 4  # 1 + 2 + 3 + 4
    assert a[0]["pair"] == a[2]["pair"] == [0, 2]
    assert [r["in_pair"] for r in a.values()] == [0, -1, 1]
    assert a[2]["from"] == 0  # recv names the world rank it got the message from


def jobs_json(tmp_path, capsys, sets: tuple[list[int], list[int]]) -> dict:
    text = "jobs:\n" + "".join(
        f"  - bench: ccl_allreduce\n    sips: {sips}\n    params: {{n_elem: 262144}}\n" for sips in sets
    )
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    argv = ["run", "--topology", str(DEFAULT_TOPOLOGY), "--sips", "8", "--algorithm", "ring_allreduce_tcm"]
    assert main([*argv, "--scenario", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("sets", "shared"),
    [(([0, 2, 4, 6], [1, 3, 5, 7]), True), (([0, 1, 2, 3], [4, 5, 6, 7]), False)],
    ids=["rings-share-links", "rings-apart"],
)
def test_two_ring_all_reduces_slow_each_other_down_where_their_routes_cross(tmp_path, capsys, sets, shared):
    """Interleaved, each ring's hops 0->2 and 1->3 both cross link 1->2 (every link carries both jobs): each gets
    about half the bandwidth. Side by side, no link carries both: sharing the system costs nothing."""
    line = jobs_json(tmp_path, capsys, sets)
    assert line["status"] == "PASS"
    for job in line["jobs"]:
        assert job["checks"] == {"exact_sum_on_every_shard": True, "same_bits_on_every_rank": True}
        if shared:
            assert 1.5 < job["slowdown"] < 2.05
        else:
            assert job["slowdown"] == 1.0
            assert job["sim_latency_ns"] == job["alone_ns"]
