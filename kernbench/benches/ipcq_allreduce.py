"""IPCQ all-reduce of the 8 PEs of cube 0 (the earlier kernbench's ipcq_allreduce): the seeds' ring kernel, vs numpy.

One SIP, no ``torch.distributed``: the bench installs a one-way ring over the PEs of cube 0 (PE ``p`` sends ``E``
to ``p + 1``, receives ``W`` from ``p - 1``, rings in each PE's TCM) with `IpcqInitMsg`, places an f16 tensor of
``8 * N_ELEM`` values column-wise over those PEs, and launches the earlier kernbench's ring all-reduce kernel
unchanged: each PE derives ``rank = cube_id * pes_per_cube + local_pe`` and works on ``t_ptr + rank * nbytes``,
sending its running tile east ``world_size - 1`` times. Every PE must end with the exact sum (small integers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernbench.engine import IpcqInitMsg, QueueSpec, ring_region
from kernbench.runtime import DPPolicy

PES = 8
N_ELEM = 1024
N_SLOTS = 4
SEED = 2


def kernel(t_ptr, n_elem, world_size, tl):
    """The earlier kernbench's ``ring_allreduce.kernel`` (seed 000), unchanged."""
    local_pe = tl.program_id(axis=0)
    cube_id = tl.program_id(axis=1)
    pes_per_cube = tl.num_programs(axis=0)
    rank = cube_id * pes_per_cube + local_pe
    nbytes = n_elem * 2  # f16
    pe_addr = t_ptr + rank * nbytes
    acc = tl.load(pe_addr, shape=(n_elem,), dtype="f16")
    current = acc
    for _step in range(world_size - 1):
        tl.send(dir="E", src=current)
        recv = tl.recv(dir="W", shape=(n_elem,), dtype="f16")
        acc = acc + recv
        current = recv
    tl.store(pe_addr, acc)


def ring_queues(torch: Any, sip: int) -> list[IpcqInitMsg]:
    """PE p of cube 0: ``E`` sends into PE p+1's ``W`` ring, ``W`` receives from PE p-1 (rings in TCM)."""
    slot = N_ELEM * 2
    rx = [ring_region(torch.topo, "tcm", sip, 0, p)[0] for p in range(PES)]
    msgs = []
    for p in range(PES):
        east, west = (p + 1) % PES, (p - 1) % PES
        msgs.append(
            IpcqInitMsg(
                sip,
                0,
                p,
                (
                    QueueSpec("E", N_SLOTS, slot, send_to=(sip, 0, east), peer_rx_base=rx[east]),
                    QueueSpec("W", N_SLOTS, slot, recv_from=(sip, 0, west), rx_base=rx[p]),
                ),
            )
        )
    return msgs


def run(torch: Any) -> dict[str, Any]:
    sip = torch.current_device()
    torch.run_requests(ring_queues(torch, sip), "ipcq_init")
    rng = np.random.default_rng(SEED)
    tiles = rng.integers(-8, 9, (PES, N_ELEM)).astype(np.float16)
    t = torch.zeros(
        (1, PES * N_ELEM),
        "f16",
        dp=DPPolicy(cube="replicate", pe="column_wise", num_cubes=1, num_pes=PES),
        name="tiles",
    )
    t.copy_(tiles.reshape(1, -1))
    done = torch.launch("ipcq_ring_allreduce", kernel, t, N_ELEM, PES, local_dims=False)
    out = t.numpy().reshape(PES, N_ELEM)
    want = tiles.astype(np.float32).sum(axis=0).astype(np.float16)
    ok = [bool(np.array_equal(out[p], want)) for p in range(PES)]
    return {
        "checks": {"exact_sum_on_every_pe": all(ok)},
        "result": f"ring of {PES} PEs: {sum(ok)} OK",
        "kernel_ns": done.latency_ns,
        "nbytes_per_pe": N_ELEM * 2,
    }
