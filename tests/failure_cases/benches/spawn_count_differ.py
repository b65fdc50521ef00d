"""SPMD: the last process calls spawn once more than the others."""

from tests.failure_cases.last_process import is_last_process

SPMD = True


def run(torch):
    for _ in range(2 if is_last_process() else 1):
        torch.multiprocessing.spawn(lambda rank: rank, nprocs=2)
    return {"checks": {"spawned": True}}
