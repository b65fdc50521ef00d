"""LP-to-rank mappings. Any mapping gives the same results; only speed differs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import ModelError

__all__ = ["Partition"]


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

    def local(self, rank: int) -> list[int]:
        """Global indices of the LPs owned by ``rank``, in index order."""
        return [i for i, r in enumerate(self.owner) if r == rank]
