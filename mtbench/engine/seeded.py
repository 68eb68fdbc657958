"""Per-sample seeding: a sample's augmentation depends only on (seed, epoch, index), never on worker
count, process or position in the epoch, so interrupted-then-resumed runs see identical data. The epoch is
``set_epoch``'s, or the one an (epoch, index) key carries (``EpochSampler``: worker processes that persist
across epochs hold a copy of the dataset made when they started, which ``set_epoch`` in the main process
does not reach)."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import Dataset


class SeededDataset(Dataset):
    """Wraps a dataset; before each item it seeds Python, NumPy and torch from (seed, epoch, index)."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]):
        if isinstance(key, tuple):
            epoch, index = (int(k) for k in key)
            self.set_epoch(epoch)
        else:
            index = key
        s = (self.seed * 1_000_003 + self.epoch * 10_007 + index) % (2**63 - 1)
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.manual_seed(s)
        return self.dataset[index]
