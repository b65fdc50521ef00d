"""Where a tensor's shards live: physical allocations and the virtual-to-physical mappings of each cube.

A tensor has one virtual range laid out shard-major (`kernbench.runtime.placement`): shard bytes sit at
``va + offset_bytes``. Every cube's page table maps the whole range, each block to the copy in that cube if it
holds one (so a replica is read locally), else to the copy in the lowest cube that holds it; replicas inside one
cube (PE-replicated) are mapped to the lowest PE's copy. So a kernel on any PE of the SIP finds every byte.

Mapping is page granular where it can be. When every block of a cube starts on a page boundary, each shard lives
in its own PE's memory (its share of the cube's HBM, or its TCM). Otherwise (small shards) a cube's HBM or SRAM
blocks share one contiguous region allocated from the first of them, so the pages still map one to one. What is
left, blocks smaller than a page in different memories (a small tensor split over cubes, small TCM shards), is
mapped with sub-page mappings (ADR 0010): exact byte ranges, as the seeds' per-shard MMU entries, so ``va +
offset_bytes`` still reaches each block where it lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kernbench.runtime.allocator import DeviceAllocators
from kernbench.runtime.placement import ShardBlock
from kernbench.topology import PhysAddr

MEMORIES = ("hbm", "sram", "tcm")


@dataclass
class Deployment:
    """The memory behind one tensor: its VA base, a PA per shard, and what to undo when it is freed."""

    sip: int
    va: int
    va_bytes: int
    addrs: list[PhysAddr]
    mappings: list[tuple[int, int, PhysAddr, int, bool]] = field(default_factory=list)  # cube, va, pa, n, subpage
    allocations: list[PhysAddr] = field(default_factory=list)


def deploy(allocators: DeviceAllocators, layout: list[ShardBlock], memory: str, page: int) -> Deployment:
    """Allocate every shard of ``layout`` in ``memory`` and plan every cube's mappings (installed by the caller)."""
    if memory not in MEMORIES:
        raise ValueError(f"memory must be one of {', '.join(MEMORIES)}, got {memory!r}")
    sip = layout[0].spec.sip
    va_bytes = max(sb.spec.offset_bytes + sb.spec.nbytes for sb in layout)
    va = allocators.va(sip).alloc(va_bytes)
    dep = Deployment(sip, va, va_bytes, [None] * len(layout))  # type: ignore[list-item]
    try:
        for cube in sorted({sb.spec.cube for sb in layout}):
            _place_cube(allocators, dep, layout, cube, memory, page)
        for cube in range(allocators.topo.cubes_per_sip):
            dep.mappings += [(cube, va + off, pa, n, sub) for off, pa, n, sub in _cube_view(dep, layout, cube, page)]
    except BaseException:
        release(allocators, dep)
        raise
    return dep


def release(allocators: DeviceAllocators, dep: Deployment) -> None:
    """Return a deployment's physical and virtual memory (the caller unmaps first)."""
    for addr in dep.allocations:
        allocators.free(addr)
    dep.allocations.clear()
    allocators.va(dep.sip).free(dep.va)


def _place_cube(
    allocators: DeviceAllocators, dep: Deployment, layout: list[ShardBlock], cube: int, memory: str, page: int
) -> None:
    """Allocate the shards of ``cube``: each on its own, or the cube's blocks in one region (unaligned blocks)."""
    members = [i for i, sb in enumerate(layout) if sb.spec.cube == cube]
    firsts: dict[int, int] = {}  # offset -> the cube's first shard with it
    for i in members:
        firsts.setdefault(layout[i].spec.offset_bytes, i)
    if memory != "tcm" and any(offset % page for offset in firsts):
        _place_region(allocators, dep, layout, list(firsts.values()), memory)
    for i in members:
        if dep.addrs[i] is None:
            dep.addrs[i] = _alloc(allocators, layout[i], memory)
            dep.allocations.append(dep.addrs[i])


def _cube_view(
    dep: Deployment, layout: list[ShardBlock], cube: int, page: int
) -> list[tuple[int, PhysAddr, int, bool]]:
    """What ``cube``'s page table maps: (offset, PA, bytes, subpage) runs covering the tensor.

    A run is whole pages (``subpage`` False) when it starts on a page in VA and PA and ends on a page or at the
    tensor's end; any other run is a sub-page mapping of exactly its bytes.
    """
    chosen: dict[int, int] = {}
    for i, sb in enumerate(layout):  # layout order: cube-major, then PE
        offset = sb.spec.offset_bytes
        if offset not in chosen or (sb.spec.cube == cube and layout[chosen[offset]].spec.cube != cube):
            chosen[offset] = i
    runs: list[tuple[int, PhysAddr, int]] = []
    for offset, i in sorted(chosen.items()):
        pa, n = dep.addrs[i], layout[i].spec.nbytes
        if runs:
            last_off, last_pa, last_n = runs[-1]
            if (
                last_off + last_n == offset
                and (last_pa.unit, last_pa.cube, last_pa.pe) == (pa.unit, pa.cube, pa.pe)
                and last_pa.offset + last_n == pa.offset
            ):
                runs[-1] = (last_off, last_pa, last_n + n)
                continue
        runs.append((offset, pa, n))
    return [
        (off, pa, n, bool(off % page or pa.offset % page or ((off + n) % page and off + n != dep.va_bytes)))
        for off, pa, n in runs
    ]


def _place_region(
    allocators: DeviceAllocators, dep: Deployment, layout: list[ShardBlock], mapped: list[int], memory: str
) -> None:
    first = min(layout[i].spec.offset_bytes for i in mapped)
    spec = layout[mapped[0]].spec
    span = max(layout[i].spec.offset_bytes + layout[i].spec.nbytes for i in mapped) - first
    region = _alloc_bytes(allocators, spec.sip, spec.cube, spec.pe, memory, span)
    dep.allocations.append(region)
    for i in mapped:
        offset = layout[i].spec.offset_bytes - first
        dep.addrs[i] = region.offset_by(offset)


def _alloc(allocators: DeviceAllocators, sb: ShardBlock, memory: str) -> PhysAddr:
    return _alloc_bytes(allocators, sb.spec.sip, sb.spec.cube, sb.spec.pe, memory, sb.spec.nbytes)


def _alloc_bytes(allocators: DeviceAllocators, sip: int, cube: int, pe: int, memory: str, nbytes: int) -> PhysAddr:
    if memory == "sram":
        return allocators.sram((sip, cube)).alloc(nbytes)
    pe_alloc = allocators[(sip, cube, pe)]
    return pe_alloc.alloc_hbm(nbytes) if memory == "hbm" else pe_alloc.alloc_tcm(nbytes)
