"""NYUD-v2, multi-task version (the MTI-Net release's NYUD_MT layout), 795 train / 654 val at 480×640.

Layout under ``root``::

    gt_sets/{train,val}.txt   sample ids, one per line
    images/<id>.jpg           RGB
    segmentation/<id>.png     uint8, 0 = unlabelled (ignored), 1..40 -> classes 0..39
    depth/<id>.npy            float H×W metres (0 = invalid)
    normals/<id>.npy          float H×W×3 unit vectors (NYUD convention, see ``mtbench.data``)
    edge/<id>.npy             float H×W in {0, 1}

The same layout, plus ``saliency/<id>.png`` (0/255) and ``human_parts/<id>.png`` (0..6), is what
``mtbench data synth`` writes; ``NYUDDataset`` reads both (class counts come from the DatasetSpec).

Edge ground truth at evaluation (``eval_edges``): the MTI-Net release has no NYUD edge evaluation (its
evaluation/eval_edge.py runs SEISM for PASCALContext only). Later work scores NYUD edges with SEISM
(maxDist 0.011, e.g. ATRC; the SEISM wrapper of prismformore/Boundary-Detection-Evaluation-Tools reads
``edge/<id>.png`` in db_gt.m as a partition), and SEISM's edgesEvalImg.m turns any ground-truth partition
into its seg2bmap boundary, thinned. The layout's only edge source is ``edge/<id>.npy``, so the
evaluation target is that SEISM ground truth of the edge map: ``seism_edges(edge > 0.5)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mtbench.data.common import (
    IGNORE,
    MultiTaskDataset,
    check_labels,
    check_same_size,
    present_samples,
    read_image,
    read_npy,
    read_png_array,
    read_split,
    seism_edges,
    to_tensors,
)
from mtbench.errors import DataError

FILES = {
    "image": ("images", ".jpg"),
    "semseg": ("segmentation", ".png"),
    "depth": ("depth", ".npy"),
    "normals": ("normals", ".npy"),
    "edge": ("edge", ".npy"),
    "saliency": ("saliency", ".png"),
    "human_parts": ("human_parts", ".png"),
}
NORMAL_TOL = 0.1  # accepted deviation of |n| from 1 (zero vectors mark invalid pixels)


def check_depth(depth: np.ndarray, path) -> np.ndarray:
    if not np.isfinite(depth).all():
        raise DataError(f"Depth in '{path}' has non-finite values (NaN or inf); invalid pixels must be 0.")
    if (depth < 0).any():
        raise DataError(f"Depth in '{path}' has negative values (min {float(depth.min()):.3g}); expected metres >= 0.")
    return depth.astype(np.float32)


def check_normals(normals: np.ndarray, path) -> np.ndarray:
    if normals.ndim != 3 or normals.shape[2] != 3:
        raise DataError(f"Normals in '{path}' have shape {normals.shape}; expected H×W×3.")
    if not np.isfinite(normals).all():
        raise DataError(f"Normals in '{path}' have non-finite values; invalid pixels must be zero vectors.")
    norm = np.linalg.norm(normals, axis=2)
    bad = (norm > 1e-6) & (np.abs(norm - 1) > NORMAL_TOL)
    if bad.any():
        raise DataError(
            f"Normals in '{path}' are not unit length at {int(bad.sum())} pixels "
            f"(|n| from {float(norm[bad].min()):.3g} to {float(norm[bad].max()):.3g})."
        )
    return normals.astype(np.float32)


# The 40 NYUDv2 classes (Gupta et al., CVPR 2013), label k + 1 on disk -> class k (0 is unlabelled: ignored)
NYU40_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat",
    "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel", "shower curtain", "box",
    "whiteboard", "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure",
    "otherfurniture", "otherprop",
)  # fmt: skip


class NYUDDataset(MultiTaskDataset):
    """Reads the NYUD layout; ``num_classes`` per label task (nyud: semseg 40; synthetic: 10 and 7).
    ``eval_edges``: the edge target is SEISM's evaluation ground truth of the edge map (see above)."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        tasks: list[str],
        *,
        num_classes: dict[str, int],
        transform=None,
        seed: int = 0,
        n: int | None = None,
        strict: bool = True,
        eval_edges: bool = False,
    ):
        super().__init__(split, tasks, transform, seed)
        self.root = Path(root)
        self.eval_edges = eval_edges
        self.num_classes = num_classes
        # class names (mtbench show's legend) where the label set is NYUD's 40 classes
        forty = num_classes.get("semseg") == len(NYU40_CLASSES)
        self.classes: tuple[str, ...] | None = NYU40_CLASSES if forty else None
        self.parts: tuple[str, ...] | None = None
        split_file = self.root / "gt_sets" / f"{split}.txt"
        self.problems: list[str] = []
        kept = present_samples(
            read_split(self.root, split_file),
            split_file,
            lambda i: [self.path(t, i) for t in ["image", *self.tasks]],
            strict=strict,
            problems=self.problems,
        )
        self.ids = kept[:n] if n is not None else kept

    def path(self, task: str, sample_id: str) -> Path:
        folder, ext = FILES[task]
        return self.root / folder / f"{sample_id}{ext}"

    def names(self) -> list[str]:
        return self.ids

    def read(self, sample_id: str) -> dict[str, np.ndarray]:
        """Validated numpy arrays of one sample (targets already in the common label conventions)."""
        paths = {t: self.path(t, sample_id) for t in ["image", *self.tasks]}
        out = {"image": read_image(paths["image"])}
        for task in self.tasks:
            p = paths[task]
            if task == "semseg":
                raw = read_png_array(p).astype(np.int64)
                lab = np.where(raw == 0, IGNORE, raw - 1)  # 0 = unlabelled
                check_labels(np.where(raw == 0, 0, raw - 1), self.num_classes["semseg"], p, task)
                out[task] = lab
            elif task == "human_parts":
                lab = read_png_array(p).astype(np.int64)
                check_labels(lab, self.num_classes["human_parts"], p, task)
                out[task] = lab
            elif task == "saliency":
                out[task] = (read_png_array(p) > 127).astype(np.float32)
            elif task == "depth":
                d = read_npy(p)
                out[task] = check_depth(d.reshape(d.shape[:2]) if d.ndim == 3 else d, p)
            elif task == "normals":
                out[task] = check_normals(read_npy(p), p)
            elif task == "edge":
                e = read_npy(p)
                e = e.reshape(e.shape[:2]) if e.ndim == 3 else e
                if not np.isfinite(e).all():
                    raise DataError(f"Edge map '{p}' has non-finite values.")
                out[task] = seism_edges(e > 0.5) if self.eval_edges else (e > 0.5).astype(np.float32)
        for task, a in out.items():
            if a.ndim < 2:
                raise DataError(f"'{paths[task]}' holds an array of shape {a.shape}; expected an H×W map.")
        check_same_size(out, {k: str(v) for k, v in paths.items()})
        return out

    def load(self, index: int) -> dict[str, torch.Tensor]:
        return to_tensors(self.read(self.ids[index]))


def build(spec, root: Path, split: str, tasks: list[str], *, train: bool = False, size=None, **common) -> NYUDDataset:
    """NYUD's ``DatasetSpec.builder`` (``common``: transform, seed, n, strict; the input ``size`` is the
    transforms'): evaluation edge targets are SEISM's ground truth."""
    return NYUDDataset(root, split, tasks, num_classes=dict(spec.num_classes), eval_edges=not train, **common)
