"""What a run needs in memory, where that is known before it starts, against what this process can have: a run
that cannot fit is refused in one line that says both (`NotEnoughMemory`, exit 3) instead of running out of
memory after minutes (docs/adr/0018).

Known before the run: every SIP a process simulates and runs code on costs at least `MIB_PER_SIP` (the smallest
"added MB/SIP" of the scale table in docs/guides/big-systems.md; workloads that touch more PEs need more), and a
``ccl-perf`` sweep's largest size is a buffer per rank plus numpy's float64 reference of the whole array. Both are
lower bounds: a run refused here could not have fit, a run let through may still run out (and then ends in one
line, `pdes.memory`).

Available: the smallest of the node's ``MemAvailable`` (shared by the ranks on it), what the address-space and
data limits (``ulimit -v``, ``-d``) leave, and what the cgroup's ``memory.max`` leaves.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from pdes.mpich_progress import local_ranks
from pdes.transport import launched_by_mpi

MIB = 1 << 20
MIB_PER_SIP = 0.75
"""The least memory a simulated SIP that runs code has been measured to add to its process (MiB)."""


class NotEnoughMemory(ValueError):
    """A run that cannot fit in the memory this process can have: one line, exit 3."""


def require(need: int, what: str) -> None:
    """Raise `NotEnoughMemory` when ``need`` bytes (for ``what``: ``--sips 4096: 4,096 SIPs in this process``)
    exceed what this process can still have."""
    available = available_bytes()
    if available is not None and need > available[0]:
        have, source = available
        raise NotEnoughMemory(
            f"{what} need at least {size_text(need)} of memory, and this process can have {size_text(have)} ({source})"
        )


def sips_need(sips: int) -> int:
    """Bytes that ``sips`` simulated SIPs running code need at least, in one process."""
    return int(sips * MIB_PER_SIP * MIB)


def available_bytes() -> tuple[int, str] | None:
    """(bytes this process can still allocate, what limits it), or None when nothing can be read."""
    found = []
    meminfo = _read("/proc/meminfo")
    share = (local_ranks() or 1) if launched_by_mpi() else 1
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            found.append((int(line.split()[1]) * 1024 // share, "MemAvailable" + (f" / {share} ranks" * (share > 1))))
    statm = _read("/proc/self/statm").split()
    for res, field, how in ((resource.RLIMIT_AS, 0, "ulimit -v"), (resource.RLIMIT_DATA, 5, "ulimit -d")):
        soft = resource.getrlimit(res)[0]
        if soft != resource.RLIM_INFINITY and len(statm) > field:
            found.append((max(0, soft - int(statm[field]) * os.sysconf("SC_PAGE_SIZE")), how))
    cgroup = _cgroup_left()
    if cgroup is not None:
        found.append((cgroup, "cgroup memory.max"))
    return min(found) if found else None


def _cgroup_left() -> int | None:
    """memory.max less memory.current of this process's cgroup (v2), or None without a limit."""
    for line in _read("/proc/self/cgroup").splitlines():
        if line.startswith("0::"):
            base = Path("/sys/fs/cgroup") / line[3:].strip().lstrip("/")
            limit, current = _read(str(base / "memory.max")).strip(), _read(str(base / "memory.current")).strip()
            if limit.isdigit() and current.isdigit():
                return max(0, int(limit) - int(current))
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def size_text(n: int) -> str:
    """``512 MiB``, ``1.5 GiB``."""
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / MIB:.0f} MiB"
