"""A bench that fails to import on the last process only."""

from tests.failure_cases.last_process import is_last_process

if is_last_process():
    raise ImportError("boom at import")


def run(_torch):
    return {"checks": {"imported": True}}
