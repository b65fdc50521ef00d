"""Where a tensor's shards live: physical allocations and the virtual-to-physical mappings of each cube.

A tensor has one virtual range laid out shard-major (`kernbench.runtime.placement`): shard bytes sit at
``va + offset_bytes``. Each cube's page table maps the range onto the shards of that cube, so a kernel on any PE
finds them by virtual address, and a replica (cube-replicated tensor) is found in the reader's own cube.
Replicas of one block inside a cube (PE-replicated) are mapped once, to the lowest PE's copy.

Mapping is page granular. When every mapped shard of a cube starts on a page boundary, each shard lives in its
own PE's memory (its share of the cube's HBM, its TCM). Otherwise (small shards) the cube's mapped shards share
one contiguous region, allocated from the first of them, so the pages still map one to one; that needs HBM or
SRAM, and the cube's first shard must start on a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kernbench.runtime.allocator import AllocationError, DeviceAllocators
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
    mappings: list[tuple[int, int, PhysAddr, int]] = field(default_factory=list)  # (cube, va, pa, nbytes)
    allocations: list[PhysAddr] = field(default_factory=list)


def deploy(allocators: DeviceAllocators, layout: list[ShardBlock], memory: str, page: int) -> Deployment:
    """Allocate every shard of ``layout`` in ``memory`` and plan its mappings (installed by the caller)."""
    if memory not in MEMORIES:
        raise ValueError(f"memory must be one of {', '.join(MEMORIES)}, got {memory!r}")
    sip = layout[0].spec.sip
    va_bytes = max(sb.spec.offset_bytes + sb.spec.nbytes for sb in layout)
    va = allocators.va(sip).alloc(va_bytes)
    dep = Deployment(sip, va, va_bytes, [None] * len(layout))  # type: ignore[list-item]
    try:
        for cube in sorted({sb.spec.cube for sb in layout}):
            _place_cube(allocators, dep, layout, cube, memory, page)
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


def _place_cube(allocators: DeviceAllocators, dep: Deployment, layout: list[ShardBlock], cube: int, memory: str,
                page: int) -> None:
    members = [i for i, sb in enumerate(layout) if sb.spec.cube == cube]
    mapped: dict[int, int] = {}  # offset -> index of the shard the cube's page table points at
    for i in members:
        mapped.setdefault(layout[i].spec.offset_bytes, i)
    aligned = all(offset % page == 0 for offset in mapped)
    if not aligned:
        _place_region(allocators, dep, layout, list(mapped.values()), memory, page)
    for i in members:
        if dep.addrs[i] is None:
            dep.addrs[i] = _alloc(allocators, layout[i], memory)
            dep.allocations.append(dep.addrs[i])
    for offset, i in sorted(mapped.items()):
        dep.mappings.append((cube, dep.va + offset, dep.addrs[i], layout[i].spec.nbytes))
    if not aligned:  # one region: one mapping covers it
        first = min(mapped)
        last = max(offset + layout[i].spec.nbytes for offset, i in mapped.items())
        dep.mappings[-len(mapped):] = [(cube, dep.va + first, dep.addrs[mapped[first]], last - first)]


def _place_region(allocators: DeviceAllocators, dep: Deployment, layout: list[ShardBlock], mapped: list[int],
                  memory: str, page: int) -> None:
    first = min(layout[i].spec.offset_bytes for i in mapped)
    spec = layout[mapped[0]].spec
    if memory == "tcm" or first % page:
        raise AllocationError(
            f"sip{spec.sip} cube {spec.cube}: shards at byte offsets that are not multiples of the {page}-byte page "
            f"cannot be mapped {'in per-PE TCM' if memory == 'tcm' else 'from an unaligned start'}; use larger "
            "shards (a page or more each) or HBM / SRAM"
        )
    span = max(layout[i].spec.offset_bytes + layout[i].spec.nbytes for i in mapped) - first
    region = _alloc_bytes(allocators, spec.sip, spec.cube, spec.pe, memory, span)
    dep.allocations.append(region)
    for i in mapped:
        offset = layout[i].spec.offset_bytes - first
        dep.addrs[i] = PhysAddr(sip=region.sip, cube=region.cube, unit=region.unit, pe=region.pe,
                                offset=region.offset + offset)


def _alloc(allocators: DeviceAllocators, sb: ShardBlock, memory: str) -> PhysAddr:
    return _alloc_bytes(allocators, sb.spec.sip, sb.spec.cube, sb.spec.pe, memory, sb.spec.nbytes)


def _alloc_bytes(allocators: DeviceAllocators, sip: int, cube: int, pe: int, memory: str, nbytes: int) -> PhysAddr:
    if memory == "sram":
        return allocators.sram((sip, cube)).alloc(nbytes)
    pe_alloc = allocators[(sip, cube, pe)]
    return pe_alloc.alloc_hbm(nbytes) if memory == "hbm" else pe_alloc.alloc_tcm(nbytes)
