"""Validators: does a rank's tensor have the layout the collective's algorithm needs (ADR-0024 D8 of the seeds)?

A validator is ``fn(shards, pes, geometry)``: ``shards`` are this rank's tensor shards (objects with ``cube``,
``pe``, ``nbytes``), ``pes`` the PEs the mapper chose. It raises ValueError saying what layout is expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kernbench.ccl.resolve import resolve
from kernbench.ccl.topologies import CclGeometry

Validator = Callable[[Sequence[Any], Sequence[tuple[int, int]], CclGeometry], None]


def single_shard_per_rank(shards: Sequence[Any], pes: Sequence[tuple[int, int]], geometry: CclGeometry) -> None:  # noqa: ARG001 - the Validator signature
    """One shard per rank, on the rank's one participating PE (e.g. ``DPPolicy(num_cubes=1, num_pes=1)``)."""
    where = sorted((s.cube, s.pe) for s in shards)
    if len(pes) != 1 or where != list(pes):
        raise ValueError(
            f"expected one shard per rank on cube {pes[0][0]} PE {pes[0][1]} "
            f"(dp=DPPolicy(num_cubes=1, num_pes=1)), got shards on (cube, pe) {where}"
        )


def multi_pe_sip_local(shards: Sequence[Any], pes: Sequence[tuple[int, int]], geometry: CclGeometry) -> None:  # noqa: ARG001 - the Validator signature
    """One equal shard on every participating PE of the rank's SIP (e.g. ``DPPolicy(cube="column_wise",
    pe="column_wise")`` with the ``all_pes`` mapper)."""
    where = sorted((s.cube, s.pe) for s in shards)
    if where != sorted(pes):
        raise ValueError(
            f"expected one shard on each of the {len(pes)} participating PEs of the SIP, got "
            f"{len(shards)} shard(s)" + ("" if len(where) > 8 else f" on (cube, pe) {where}")
        )
    sizes = {s.nbytes for s in shards}
    if len(sizes) != 1:
        raise ValueError(f"expected shards of one size, got sizes {sorted(sizes)} bytes")


VALIDATORS: dict[str, Validator] = {
    "single_shard_per_rank": single_shard_per_rank,
    "multi_pe_sip_local": multi_pe_sip_local,
}


def resolve_validator(key: str) -> Validator:
    return resolve(key, VALIDATORS, "validator", ("shards", "pes", "geometry"))
