"""LP-to-rank mappings. Any mapping gives the same results; only speed differs.

`PARTITIONS` names the partitioners a `pdes.Simulation` takes by name (``partition="tiles"``), as `pdes.sync`
names the synchronization strategies; `register_partition` adds one (e.g. a graph partitioner over
``model.links``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from .errors import ModelError

if TYPE_CHECKING:
    from .model import Model

__all__ = ["PARTITIONS", "Partition", "register_partition"]


class Partition:
    """Which rank owns each LP (by global LP index)."""

    def __init__(self, owner: Sequence[int], size: int) -> None:
        self.owner = list(owner)
        self.size = size
        bad = [(i, r) for i, r in enumerate(self.owner) if not 0 <= r < size]
        if bad:
            i, r = bad[0]
            raise ModelError(f"partition maps LP #{i} to rank {r}, but there are {size} ranks")

    @classmethod
    def blocks(cls, n_lps: int, size: int) -> Partition:
        """Contiguous blocks of nearly equal size (the default)."""
        return cls([i * size // n_lps for i in range(n_lps)] if n_lps else [], size)

    @classmethod
    def round_robin(cls, n_lps: int, size: int) -> Partition:
        """LP ``i`` on rank ``i % size``."""
        return cls([i % size for i in range(n_lps)], size)

    @classmethod
    def explicit(cls, names: Sequence[str], mapping: Mapping[str, int], size: int) -> Partition:
        """An explicit ``{lp name: rank}`` mapping covering every LP."""
        missing = [n for n in names if n not in mapping]
        if missing:
            raise ModelError(f"partition mapping has no rank for LP {missing[0]!r}")
        extra = sorted(set(mapping) - set(names))
        if extra:
            raise ModelError(f"partition mapping names unknown LP {extra[0]!r}")
        return cls([mapping[n] for n in names], size)

    @classmethod
    def tiles(cls, width: int, height: int, size: int) -> Partition:
        """LPs on a ``width x height`` grid (row-major: LP ``y * width + x``) cut into ``size`` rectangles of
        nearly equal size, as square as ``size``'s factors allow: a rank's links then mostly stay inside it, and
        it has at most 8 neighbour ranks on a torus (2 when the tiles are stripes)."""
        cols = min(
            (c for c in range(1, size + 1) if size % c == 0),
            key=lambda c: abs(math.log(c * c * height / (size * width))),
        )
        rows = size // cols
        return cls([(y * rows // height) * cols + x * cols // width for y in range(height) for x in range(width)], size)

    def local(self, rank: int) -> list[int]:
        """Global indices of the LPs owned by ``rank``, in index order."""
        return [i for i, r in enumerate(self.owner) if r == rank]


Partitioner = Callable[["Model", int], Partition]


def _tiles(model: Model, size: int) -> Partition:
    """`Partition.tiles` on the model's grid (`Model.declare_grid`); one row of every LP when it declares none."""
    width, height = model.grid or (len(model.lps), 1)
    return Partition.tiles(width, height, size)


PARTITIONS: dict[str, Partitioner] = {
    "blocks": lambda model, size: Partition.blocks(len(model.lps), size),
    "round_robin": lambda model, size: Partition.round_robin(len(model.lps), size),
    "tiles": _tiles,
}


def register_partition(name: str, partitioner: Partitioner) -> None:
    """Make ``partitioner(model, ranks) -> Partition`` available as ``Simulation(partition=name)``."""
    if name in PARTITIONS:
        raise ValueError(f"partition {name!r} is already registered")
    PARTITIONS[name] = partitioner
