"""The seeds' CCL kernels, as users bring them (seed 000: ``kernbench/ccl/algorithms/ring_allreduce.py``,
``tree_allreduce.py``, ``mesh_allreduce.py``, ``hello_send.py``, and ``kernel_async_recv`` of
``tests/ccl/test_recv_async.py``). The code is the seeds' own, line for line; only comments are shortened.

Each derives its rank as ``cube_id * pes_per_cube + local_pe`` from ``tl.program_id`` / ``tl.num_programs`` and
addresses its tile at ``t_ptr + rank * nbytes`` (f16).
"""

from __future__ import annotations

import math

from tests.kernbench.helpers import load_script


def ring_kernel_args(world_size: int, n_elem: int) -> tuple:
    return (n_elem, world_size)


ring_kernel = load_script("kernbench/benches/ipcq_allreduce.py").kernel
"""The seeds' ring kernel: the ipcq_allreduce bench runs it unchanged, so the one copy lives there."""


def tree_kernel_args(world_size: int, n_elem: int) -> tuple:
    return (n_elem, world_size)


def tree_kernel(t_ptr, n_elem, world_size, tl):
    local_pe = tl.program_id(axis=0)
    cube_id = tl.program_id(axis=1)
    pes_per_cube = tl.num_programs(axis=0)
    rank = cube_id * pes_per_cube + local_pe
    nbytes = n_elem * 2
    pe_addr = t_ptr + rank * nbytes
    acc = tl.load(pe_addr, shape=(n_elem,), dtype="f16")
    has_parent = rank > 0
    left = 2 * rank + 1
    right = 2 * rank + 2
    has_left = left < world_size
    has_right = right < world_size
    # Phase 1: reduce up
    if has_left:
        recv = tl.recv(dir="child_left", shape=(n_elem,), dtype="f16")
        acc = acc + recv
    if has_right:
        recv = tl.recv(dir="child_right", shape=(n_elem,), dtype="f16")
        acc = acc + recv
    if has_parent:
        tl.send(dir="parent", src=acc)
    # Phase 2: broadcast down
    if has_parent:
        acc = tl.recv(dir="parent", shape=(n_elem,), dtype="f16")
    if has_left:
        tl.send(dir="child_left", src=acc)
    if has_right:
        tl.send(dir="child_right", src=acc)
    tl.store(pe_addr, acc)


def mesh_kernel_args(world_size: int, n_elem: int) -> tuple:
    side = int(round(math.sqrt(world_size)))  # noqa: RUF046 - the seeds' code
    if side * side != world_size:
        raise ValueError(f"mesh_allreduce requires a square world_size; got {world_size}")
    return (n_elem, side)


def mesh_kernel(t_ptr, n_elem, side, tl):
    local_pe = tl.program_id(axis=0)
    cube_id = tl.program_id(axis=1)
    pes_per_cube = tl.num_programs(axis=0)
    rank = cube_id * pes_per_cube + local_pe
    nbytes = n_elem * 2
    pe_addr = t_ptr + rank * nbytes
    acc = tl.load(pe_addr, shape=(n_elem,), dtype="f16")
    current = acc
    # Phase 1: row ring (E direction)
    for _ in range(side - 1):
        tl.send(dir="E", src=current)
        recv = tl.recv(dir="W", shape=(n_elem,), dtype="f16")
        acc = acc + recv
        current = recv
    current = acc
    # Phase 2: column ring (S direction)
    for _ in range(side - 1):
        tl.send(dir="S", src=current)
        recv = tl.recv(dir="N", shape=(n_elem,), dtype="f16")
        acc = acc + recv
        current = recv
    tl.store(pe_addr, acc)


def hello_send_kernel(t_ptr, n_elem, tl):
    local_pe = tl.program_id(axis=0)
    cube_id = tl.program_id(axis=1)
    pes_per_cube = tl.num_programs(axis=0)
    rank = cube_id * pes_per_cube + local_pe
    nbytes = n_elem * 2
    pe_addr = t_ptr + rank * nbytes
    src = tl.load(pe_addr, shape=(n_elem,), dtype="f16")
    tl.send(dir="E", src=src)
    recv = tl.recv(dir="W", shape=(n_elem,), dtype="f16")
    tl.store(pe_addr, recv)


def kernel_async_recv(t_ptr, n_elem, tl):
    rank = tl.program_id(axis=0)
    world_size = tl.num_programs(axis=0)
    nbytes = n_elem * 2
    pe_addr = t_ptr + rank * nbytes
    acc = tl.load(pe_addr, shape=(n_elem,), dtype="f16")
    current = acc
    for _step in range(world_size - 1):
        future = tl.recv_async(dir="W", shape=(n_elem,), dtype="f16")
        tl.send(dir="E", src=current)
        recv = tl.wait(future)
        acc = acc + recv
        current = recv  # forward W's tile to E next round
    tl.store(pe_addr, acc)
