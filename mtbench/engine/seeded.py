"""Per-sample seeding: a sample's augmentation depends only on (seed, epoch, index), never on worker
count, process or position in the epoch, so interrupted-then-resumed runs see identical data."""

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

    def __getitem__(self, index: int):
        s = (self.seed * 1_000_003 + self.epoch * 10_007 + index) % (2**63 - 1)
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.manual_seed(s)
        return self.dataset[index]
