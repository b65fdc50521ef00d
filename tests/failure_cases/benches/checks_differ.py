"""SPMD: the last process's own check fails, the others' pass."""

from tests.failure_cases.last_process import is_last_process

SPMD = True


def run(torch):
    torch.multiprocessing.spawn(lambda rank: rank, nprocs=2)
    return {"checks": {"mine": not is_last_process()}}
