"""SPMD: the last process spawns one rank, the others two."""

from tests.failure_cases.last_process import is_last_process

SPMD = True


def run(torch):
    torch.multiprocessing.spawn(lambda rank: rank, nprocs=1 if is_last_process() else 2)
    return {"checks": {"spawned": True}}
