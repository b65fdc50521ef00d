"""The MPI transport (mpi4py), and MPI process hygiene.

Importing this module sets MPICH's yield variables before MPI initialises when
the job's ranks outnumber this node's cores (`pdes.mpich_progress`): with the
pip MPICH, blocking calls busy-spin, and ranks that outnumber cores starve each
other; with a core per rank, yielding only slows every synchronization.
``abort_on_uncaught_exception`` is `pdes.abort.install` (``import pdes``
already calls it under an MPI launcher).
"""

from __future__ import annotations

import numpy as np

from .abort import install as abort_on_uncaught_exception
from .mpich_progress import configure as configure_mpich_progress

configure_mpich_progress()

from mpi4py import MPI  # noqa: E402 (after the settings: MPI reads them when it initialises)

__all__ = ["MPI", "MpiTransport", "abort_on_uncaught_exception"]

_TAG = 7  # one tag for events and promises: a promise never overtakes an event

# A reduction in flight: its requests, the send buffers (kept alive until it completes), the receive buffers.
_Reduction = tuple[list[MPI.Request], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class MpiTransport:
    """Batches as one msgpack buffer per neighbour per round, over a private communicator."""

    def __init__(self, comm: MPI.Comm | None = None) -> None:
        self.comm = (comm or MPI.COMM_WORLD).Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def exchange(self, outgoing: dict[int, bytes], sources: list[int]) -> dict[int, bytearray]:
        comm = self.comm
        requests = [comm.Isend([data, MPI.BYTE], dest=dst, tag=_TAG) for dst, data in outgoing.items()]
        incoming = {}
        status = MPI.Status()
        for src in sources:
            comm.Probe(source=src, tag=_TAG, status=status)
            buf = bytearray(status.Get_count(MPI.BYTE))
            comm.Recv([buf, MPI.BYTE], source=src, tag=_TAG)
            incoming[src] = buf
        MPI.Request.Waitall(requests)
        return incoming

    def reduce_start(self, mins: np.ndarray, sums: np.ndarray) -> _Reduction:
        out_min = np.empty_like(mins)
        out_sum = np.empty_like(sums)
        requests = [
            self.comm.Iallreduce(mins, out_min, op=MPI.MIN),
            self.comm.Iallreduce(sums, out_sum, op=MPI.SUM),
        ]
        return requests, (mins, sums), (out_min, out_sum)

    def reduce_finish(self, handle: _Reduction) -> tuple[np.ndarray, np.ndarray]:
        requests, _sent, received = handle
        MPI.Request.Waitall(requests)
        return received

    def allgather(self, data: bytes) -> list[bytes]:
        return self.comm.allgather(bytes(data))

    def gather(self, data: bytes) -> list[bytes] | None:
        return self.comm.gather(bytes(data), root=0)
