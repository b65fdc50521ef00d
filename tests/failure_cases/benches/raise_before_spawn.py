"""SPMD bench whose run(torch) raises on the last process before it calls spawn (the others wait in it)."""

from tests.failure_cases.last_process import is_last_process

SPMD = True


def run(torch):
    if is_last_process():
        raise ValueError("boom before spawn")
    torch.multiprocessing.spawn(lambda rank: rank, nprocs=2)
    return {"checks": {"spawned": True}}
