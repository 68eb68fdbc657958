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

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from torch.utils.data import Dataset

from mtbench.data.check import CheckReport, check_dataset
from mtbench.data.common import env_root
from mtbench.data.export import parse_size, write_synthetic
from mtbench.data.spec import DATASETS, Augmentation, DatasetSpec, get_dataset_spec, list_datasets, register_dataset
from mtbench.data.transforms import (
    Compose,
    EvalResize,
    FixedResize,
    PhotometricJitter,
    RandomAffine,
    RandomCropPad,
    RandomHorizontalFlip,
    RandomRotate,
    RandomScale,
)
from mtbench.errors import UsageError

__all__ = [
    "build_dataset",
    "check_dataset",
    "CheckReport",
    "write_synthetic",
    "parse_size",
    "DATASETS",
    "DatasetSpec",
    "Augmentation",
    "get_dataset_spec",
    "list_datasets",
    "register_dataset",
    "train_transform",
    "eval_transform",
]

SPLITS = ("train", "val")


def _scales(scales) -> list[float] | tuple[float, float]:
    return list(scales) if isinstance(scales, list) else tuple(scales)


def train_transform(name: str, size: tuple[int, int], *, scales=None, rotation=None, jitter=None) -> Compose:
    """The dataset's training augmentation to ``size`` (``DatasetSpec.augmentation``; options override it).

    release (NYUD, PASCAL-Context): flip, one warp (rotation, scale; depth divided by the scale) at the
    original size, the whole image resized to ``size``. crop (synthetic): flip, random scale (depth
    divided by the scale), rotation if asked, crop/pad to ``size``, photometric jitter.
    """
    aug = get_dataset_spec(name).augmentation
    scales = aug.scale_option() if scales is None else _scales(scales)
    rotation = aug.rotation if rotation is None else rotation
    jitter = aug.jitter if jitter is None else jitter
    steps: list[Callable[..., Any]]
    if aug.kind == "release":
        steps = [RandomHorizontalFlip(), RandomAffine(float(rotation), scales), FixedResize(size)]
    else:
        steps = [RandomHorizontalFlip(), RandomScale(scales)]
        if rotation:
            steps.append(RandomRotate(float(rotation)))
        steps.append(RandomCropPad(size))
    if jitter:
        steps.append(PhotometricJitter())
    return Compose(steps)


def eval_transform(name: str, size: tuple[int, int], canvas: tuple[int, int] | None = None) -> EvalResize | None:
    """The dataset's evaluation transform: none for the crop recipe (rendered at the run's size);
    release recipes resize the image to ``size`` and keep the targets at the original size, padded to
    ``canvas`` (default ``size``) with ignore values (``EvalResize``)."""
    if get_dataset_spec(name).augmentation.kind != "release":
        return None
    return EvalResize(size, cast(tuple[int, int], tuple(canvas)) if canvas is not None else size)


def build_dataset(
    name: str,
    split: str,
    *,
    root: str | None = None,
    tasks: list[str],
    train: bool,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    n: int | None = None,
    **options: Any,
) -> Dataset:
    """Dataset ``name`` split ``split`` with only ``tasks`` (+ image, meta), made by its spec's builder.

    ``train`` selects the spec's augmentation, else the evaluation transform (``eval_transform``);
    ``size`` = (H, W) of the model's input (default the spec's train_size; a dataset that
    ``renders_at_run_size`` is made at that size); ``n`` = number of samples (synthetic: images to
    generate, default train 400 / val 100; others: the first n of the split). Options: ``scales``,
    ``rotation``, ``jitter`` (override the training augmentation), ``eval_canvas`` (H, W) that
    original-size evaluation targets are padded to (NYUD, PASCAL-Context; default the evaluation input
    size). Evaluation edge targets of NYUD and PASCAL-Context are SEISM's ground truth (see their
    loaders), not the training target. An ``embedded`` dataset is generated when ``root`` is None
    (synthetic; with a root it reads a folder written by ``mtbench data synth``).
    """
    spec = get_dataset_spec(name)
    spec.check_tasks(tasks)
    if split not in SPLITS:
        raise UsageError(f"Unknown split '{split}'; valid: {', '.join(SPLITS)}.")
    allowed = {"scales", "rotation", "jitter", "eval_canvas"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UsageError(f"Unknown dataset option(s) {unknown} for '{name}'; valid: {', '.join(sorted(allowed))}.")
    aug = {k: options[k] for k in ("scales", "rotation", "jitter") if k in options}
    size = cast(tuple[int, int], tuple(size)) if size is not None else None
    transform: Compose | EvalResize | None
    if train:
        transform = train_transform(name, size or spec.train_size, **aug)
    else:
        transform = eval_transform(name, size or spec.train_size, options.get("eval_canvas"))
    if root is None and not spec.embedded:
        root = env_root(name)
        if root is None:
            raise UsageError(
                f"Dataset '{name}' needs a root folder: pass --data-root /path (Python: root=...) or "
                f"set MTBENCH_DATA so that $MTBENCH_DATA/{name} holds it. See README 'Data'."
            )
    return spec.build(
        Path(root) if root is not None else None,
        split,
        list(tasks),
        transform=transform,
        train=train,
        size=size,
        seed=seed,
        n=n,
    )
