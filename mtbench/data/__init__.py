"""Datasets: the embedded ``synthetic`` scenes, NYUD-v2 and PASCAL-Context (multi-task versions).

``build_dataset`` returns a ``torch.utils.data.Dataset`` whose items follow the common sample format
(``image`` ImageNet-normalised 3×H×W, the requested task targets, ``meta`` {name, size}).

Normals convention (all datasets; NYUD's): unit vectors in the camera frame with x pointing right and
y pointing down in the image (the image axes) and z pointing towards the camera; normals face the
camera (n · v > 0, v = direction from the surface to the camera) and a wall facing the camera is
(0, 0, 1). This is the NYU Depth v2 colour coding (red =
right, green = down, blue = towards the camera, as the NYU paper describes its normal maps); the MTI-Net
release does not document its axes, but its transforms treat x as horizontal (a flip negates x) and its
in-plane rotation of (x, y) agrees with x right / y down. Note the frame is left-handed.
Depth is z-depth in metres (distance along the optical axis), 0 = invalid.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from mtbench.data.check import CheckReport, check_dataset
from mtbench.data.common import env_root
from mtbench.data.export import parse_size, write_synthetic
from mtbench.data.spec import DATASETS, DatasetSpec, get_dataset_spec
from mtbench.data.transforms import (Compose, EvalResize, FixedResize, PhotometricJitter, RandomAffine,
                                     RandomCropPad, RandomHorizontalFlip, RandomRotate, RandomScale)
from mtbench.errors import UsageError

__all__ = ["build_dataset", "check_dataset", "CheckReport", "write_synthetic", "parse_size", "DATASETS",
           "DatasetSpec", "get_dataset_spec", "train_transform", "eval_transform"]

SPLITS = ("train", "val")
# training augmentation of each recipe (DESIGN.md "Reference training setup"); "release" = the MTI-Net
# release's geometry (flip, one affine warp at the original size, whole image resized to the size),
# "crop" = the synthetic default's (flip, zoom in, random crop back to the size, photometric jitter)
RECIPES: dict[str, dict[str, Any]] = {
    "synthetic": {"kind": "crop", "scales": (1.0, 1.25), "rotation": 0.0, "jitter": True},
    "nyud": {"kind": "release", "scales": [1.0, 1.2, 1.5], "rotation": 0.0, "jitter": False},
    "pascal_context": {"kind": "release", "scales": (0.75, 1.25), "rotation": 20.0, "jitter": False},
}


def _scales(scales) -> list[float] | tuple[float, float]:
    return list(scales) if isinstance(scales, list) else tuple(scales)


def train_transform(name: str, size: tuple[int, int], *, scales=None, rotation=None, jitter=None) -> Compose:
    """The recipe's training augmentation to ``size`` (see ``DatasetSpec.geometry``).

    release (NYUD, PASCAL-Context): flip, one warp (rotation, scale; depth divided by the scale) at the
    original size, the whole image resized to ``size``. crop (synthetic): flip, random scale (depth
    divided by the scale), rotation if asked, crop/pad to ``size``, photometric jitter.
    """
    r = RECIPES[name]
    scales = r["scales"] if scales is None else scales
    rotation = r["rotation"] if rotation is None else rotation
    jitter = r["jitter"] if jitter is None else jitter
    if r["kind"] == "release":
        steps = [RandomHorizontalFlip(), RandomAffine(float(rotation), _scales(scales)), FixedResize(size)]
    else:
        steps = [RandomHorizontalFlip(), RandomScale(_scales(scales))]
        if rotation:
            steps.append(RandomRotate(float(rotation)))
        steps.append(RandomCropPad(size))
    if jitter:
        steps.append(PhotometricJitter())
    return Compose(steps)


def eval_transform(name: str, size: tuple[int, int], canvas: tuple[int, int] | None = None) -> EvalResize | None:
    """The recipe's evaluation transform: none for the synthetic default (rendered at the run's size);
    release recipes resize the image to ``size`` and keep the targets at the original size, padded to
    ``canvas`` (default ``size``) with ignore values (``EvalResize``)."""
    if RECIPES[name]["kind"] != "release":
        return None
    return EvalResize(size, tuple(canvas) if canvas is not None else size)


def build_dataset(name: str, split: str, *, root: str | None = None, tasks: list[str], train: bool,
                  size: tuple[int, int] | None = None, seed: int = 0, n: int | None = None,
                  **options: Any) -> Dataset:
    """Dataset ``name`` split ``split`` with only ``tasks`` (+ image, meta).

    ``train`` selects the recipe's augmentation, else the evaluation transform (``eval_transform``);
    ``size`` = (H, W) of the model's input (synthetic: the rendered size, default 128×160; NYUD and
    PASCAL-Context: the size the whole image is resized to, default the spec's train_size / eval_size);
    ``n`` = number of samples (synthetic: images to generate, default train 400 / val 100; others: the
    first n of the split). Options: ``scales``, ``rotation``, ``jitter`` (override the training
    augmentation), ``eval_canvas`` (H, W) that original-size evaluation targets are padded to (NYUD,
    PASCAL-Context; default the evaluation input size). Evaluation edge targets of NYUD and
    PASCAL-Context are SEISM's ground truth (see their loaders), not the training target.
    For synthetic, ``root`` may name a folder written by ``mtbench data synth`` (read from disk).
    """
    from mtbench.data.nyud import NYUDDataset
    from mtbench.data.pascal_context import PascalContextDataset
    from mtbench.data.synthetic import SyntheticDataset

    spec = get_dataset_spec(name)
    spec.check_tasks(tasks)
    if split not in SPLITS:
        raise UsageError(f"Unknown split '{split}'; valid: {', '.join(SPLITS)}.")
    allowed = {"scales", "rotation", "jitter", "eval_canvas"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UsageError(f"Unknown dataset option(s) {unknown} for '{name}'; valid: {', '.join(sorted(allowed))}.")
    aug = {k: options[k] for k in ("scales", "rotation", "jitter") if k in options}
    size = tuple(size) if size is not None else None
    if train:
        transform = train_transform(name, size or spec.train_size, **aug)
    else:
        transform = eval_transform(name, size or spec.eval_size or spec.train_size, options.get("eval_canvas"))
    if name == "synthetic" and root is None:
        return SyntheticDataset(split, list(tasks), n=n, size=size, seed=seed, transform=transform)
    root = root or env_root(name)
    if root is None:
        raise UsageError(f"Dataset '{name}' needs a root folder: pass root=/path (CLI --root) or set "
                         f"MTBENCH_DATA so that $MTBENCH_DATA/{name} holds it. See README 'Data'.")
    if name == "pascal_context":
        return PascalContextDataset(Path(root), split, list(tasks), transform=transform, seed=seed, n=n,
                                    eval_edges=not train)
    return NYUDDataset(Path(root), split, list(tasks), num_classes=spec.num_classes, transform=transform,
                       seed=seed, n=n, eval_edges=not train and name == "nyud")
