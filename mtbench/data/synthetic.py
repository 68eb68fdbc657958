"""The embedded synthetic dataset: procedural indoor scenes with exact ground truth for all six tasks.

A sample depends only on (seed, split, index): the scene and its rendering use
``np.random.default_rng([seed, split_code, index])`` (train = 0, val = 1: disjoint seed streams).
Classes: see ``synthetic_scene.CLASSES`` (10); human parts: ``synthetic_scene.PARTS`` (background + 6).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mtbench.data.common import MultiTaskDataset, to_tensors
from mtbench.data.synthetic_render import render
from mtbench.data.synthetic_scene import CLASSES, PARTS, sample_scene
from mtbench.errors import UsageError

DEFAULT_SIZE = (128, 160)
DEFAULT_N = {"train": 400, "val": 100}
SPLIT_CODE = {"train": 0, "val": 1, "test": 2}


def generate(seed: int, split: str, index: int, size: tuple[int, int] = DEFAULT_SIZE) -> dict[str, np.ndarray]:
    """Numpy arrays of one scene: image uint8 H×W×3, semseg/human_parts/edge/saliency uint8 H×W,
    depth float32 H×W (metres, z-depth), normals float32 H×W×3 (unit, NYUD convention), instance int32."""
    if split not in SPLIT_CODE:
        raise UsageError(f"Unknown split '{split}' for dataset 'synthetic'; valid: {', '.join(SPLIT_CODE)}.")
    rng = np.random.default_rng([int(seed), SPLIT_CODE[split], int(index)])
    h, w = size
    return render(sample_scene(rng, w / h), h, w, rng)


class SyntheticDataset(MultiTaskDataset):
    """``n`` procedurally generated scenes of ``size`` (H, W), rendered on the fly (no files)."""

    classes = CLASSES
    parts = PARTS

    def __init__(
        self,
        split: str,
        tasks: list[str],
        *,
        n: int | None = None,
        size: tuple[int, int] | None = None,
        seed: int = 0,
        transform=None,
    ):
        super().__init__(split, tasks, transform, seed)
        if split not in SPLIT_CODE:
            raise UsageError(f"Unknown split '{split}' for dataset 'synthetic'; valid: {', '.join(SPLIT_CODE)}.")
        self.n = DEFAULT_N.get(split, 100) if n is None else int(n)
        if self.n < 1:
            raise UsageError(f"Option n must be at least 1, got {self.n}.")
        size_hw = tuple(size) if size is not None else DEFAULT_SIZE
        if len(size_hw) != 2 or min(size_hw) < 8:
            raise UsageError(f"Option size must be (H, W) with both at least 8, got {size_hw}.")
        self.size = size_hw
        self._names = [f"synthetic_{split}_{i:05d}" for i in range(self.n)]

    def names(self) -> list[str]:
        return self._names

    def load(self, index: int) -> dict[str, torch.Tensor]:
        arrays = generate(self.seed, self.split, index, self.size)
        return to_tensors({k: arrays[k] for k in ["image", *self.tasks]})


def build(
    spec, root: Path | None, split: str, tasks: list[str], *, train: bool = False, size=None, strict=True, **common
) -> MultiTaskDataset:
    """The synthetic ``DatasetSpec.builder`` (``common``: transform, seed, n): scenes rendered on the fly at
    ``size``, or, given a ``root``, a folder written by ``mtbench data synth`` (NYUD layout; its edge targets
    are already exact)."""
    if root is None:
        return SyntheticDataset(split, tasks, size=size, **common)
    from mtbench.data.nyud import NYUDDataset

    ds = NYUDDataset(root, split, tasks, num_classes=dict(spec.num_classes), strict=strict, **common)
    ds.classes, ds.parts = CLASSES, PARTS  # the scenes' own class names
    return ds
