"""A resumable, distributed-aware sampler: the order depends only on (seed, epoch)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    """Shuffled (or sequential) indices for one rank, starting at ``start`` within the epoch.

    Convention: like torch's DistributedSampler (seed + epoch permutation, padded by repetition to a
    multiple of the world size when ``pad``; rank r takes every world-th index), plus ``start``: the
    number of this rank's samples already consumed in the current epoch, so a resumed run sees exactly
    the remaining samples in the same order. Evaluation uses ``shuffle=False, pad=False`` so that no
    sample is counted twice.
    """

    def __init__(
        self, n: int, *, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1, pad: bool = True
    ) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            idx = torch.randperm(self.n, generator=g).tolist()
        else:
            idx = list(range(self.n))
        if self.pad and self.world_size > 1 and self.n % self.world_size:
            extra = self.world_size - self.n % self.world_size
            idx += idx[:extra]
        return idx[self.rank :: self.world_size]

    def per_rank(self) -> int:
        return len(self._indices())

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.start :])

    def __len__(self) -> int:
        return max(0, self.per_rank() - self.start)


class EpochSampler(Sampler[tuple[int, int]]):
    """``sampler``'s indices as (epoch, index) keys, the epoch read from ``sampler.epoch`` when an epoch's
    iteration starts. ``SeededDataset`` takes such keys: the epoch travels with each index to the worker
    processes, so persistent workers (started once, holding a copy of the dataset made then) augment each
    epoch's samples as their own epoch, never as the epoch they were started in."""

    def __init__(self, sampler: ResumableSampler) -> None:
        self.sampler = sampler

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.sampler.epoch
        return ((epoch, i) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)
