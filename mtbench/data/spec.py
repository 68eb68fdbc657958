"""Dataset specs: what a dataset provides, without touching its files (profiling and models need only this)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mtbench.errors import UsageError, unknown_name


@dataclass(frozen=True)
class Augmentation:
    """A recipe's training augmentation (DESIGN.md "Reference training setup").

    ``kind``: "release" = the MTI-Net release's geometry (flip, one affine warp at the original size,
    the whole image resized to the run's size; evaluation resizes the image only), "crop" = the
    synthetic default's (flip, zoom in, random crop back to the size, photometric jitter; no evaluation
    transform). ``scales``: a (lo, hi) range, or the values to choose from when ``scale_choices``.
    """

    kind: Literal["crop", "release"]
    scales: tuple[float, ...]
    scale_choices: bool = False
    rotation: float = 0.0
    jitter: bool = False

    def scale_option(self) -> list[float] | tuple[float, ...]:
        """``scales`` in the transforms' convention: a list = choose one, a tuple = a uniform range."""
        return list(self.scales) if self.scale_choices else tuple(self.scales)


# builder(spec, root, split, tasks, *, transform, train, size, seed, n, strict) -> torch Dataset
Builder = Callable[..., Any]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the harness needs to know about a dataset, and how to build it.

    ``num_classes`` maps classification tasks (semseg, human_parts) to their class counts;
    ``train_size`` is the model's input (H, W) in training and at evaluation (NYUD and PASCAL-Context
    score predictions at each image's original size). ``builder`` makes a split (a callable or a lazy
    ``"module:function"`` path, see ``Builder``); ``embedded`` = it can be generated without a root
    folder; ``renders_at_run_size`` = its images are made at the run's input size (else read and resized);
    ``metric_options`` are per-task metric defaults of the dataset's protocol (e.g. the edge matching
    radius), under the run's ``eval.options``. ``geometry`` says in words what the data pipeline does to
    the images (augmentation, sizes, interpolation) for the run record.
    """

    name: str
    tasks: tuple[str, ...]
    builder: Builder | str
    augmentation: Augmentation
    num_classes: Mapping[str, int] = field(default_factory=dict)
    default_tasks: tuple[str, ...] = ()
    default_aux_tasks: tuple[str, ...] = ()
    train_size: tuple[int, int] = (480, 640)
    embedded: bool = False
    renders_at_run_size: bool = False
    metric_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""
    geometry: str = ""  # the augmentation and resizing protocol, short, stored in every run record

    def out_channels(self, tasks: list[str] | tuple[str, ...]) -> dict[str, int]:
        """Output channels per task for a model trained on this dataset."""
        from mtbench.registry import get_task

        self.check_tasks(tasks)
        return {t: get_task(t).out_channels(self.num_classes.get(t)) for t in tasks}

    def check_tasks(self, tasks: list[str] | tuple[str, ...]) -> None:
        from mtbench.registry import list_tasks

        for t in tasks:
            if t not in list_tasks():
                raise unknown_name("task", t, list_tasks(), "Run 'mtbench list tasks'.")
            if t not in self.tasks:
                raise UsageError(
                    f"Task '{t}' is not provided by dataset '{self.name}'; it provides: {', '.join(self.tasks)}."
                )

    def build(self, root: Path | None, split: str, tasks: list[str], **kwargs: Any) -> Any:
        """The split's dataset from ``builder`` (``kwargs``: transform, train, size, seed, n, strict)."""
        fn = self.builder
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(importlib.import_module(module), attr)
        return fn(self, root, split, list(tasks), **kwargs)


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Register a dataset under ``spec.name``; a second, different spec of that name is an error."""
    if spec.name in DATASETS and DATASETS[spec.name] is not spec:
        raise KeyError(f"Dataset '{spec.name}' is already registered")
    DATASETS[spec.name] = spec
    return spec


def unregister_dataset(name: str) -> DatasetSpec | None:
    """Remove a dataset from the registry, returning its spec (None if absent). For tests that register one."""
    return DATASETS.pop(name, None)


SYNTHETIC = register_dataset(
    DatasetSpec(
        name="synthetic",
        tasks=("semseg", "depth", "normals", "edge", "saliency", "human_parts"),
        builder="mtbench.data.synthetic:build",
        augmentation=Augmentation("crop", scales=(1.0, 1.25), jitter=True),
        num_classes={"semseg": 10, "human_parts": 7},
        default_tasks=("semseg", "depth"),
        default_aux_tasks=("normals", "edge"),
        train_size=(128, 160),
        embedded=True,
        renders_at_run_size=True,
        metric_options={"edge": {"max_dist": 0.011}},
        description="procedural indoor scenes, exact ground truth for all six tasks (embedded, no download)",
        geometry="mtbench: train flip, scale 1-1.25, random crop at the run's size, colour jitter; eval none",
    )
)
NYUD = register_dataset(
    DatasetSpec(
        name="nyud",
        tasks=("semseg", "depth", "normals", "edge"),
        builder="mtbench.data.nyud:build",
        augmentation=Augmentation("release", scales=(1.0, 1.2, 1.5), scale_choices=True),
        num_classes={"semseg": 40},
        default_tasks=("semseg", "depth"),
        default_aux_tasks=(),
        train_size=(480, 640),
        metric_options={"edge": {"max_dist": 0.011}},
        description="NYUD-v2 multi-task version (795 train / 654 val, 480x640)",
        geometry="release: flip, zoom {1, 1.2, 1.5} about the centre (depth ÷ zoom), train and test at "
        "480×640; image/normals bicubic (normals renormalised), other targets nearest; scored at "
        "the original size; edge GT = thinned seg2bmap of edge/*.npy",
    )
)
PASCAL_CONTEXT = register_dataset(
    DatasetSpec(
        name="pascal_context",
        tasks=("semseg", "human_parts", "saliency", "normals", "edge"),
        builder="mtbench.data.pascal_context:build",
        augmentation=Augmentation("release", scales=(0.75, 1.25), rotation=20.0),
        num_classes={"semseg": 21, "human_parts": 7},
        default_tasks=("semseg", "human_parts", "saliency", "normals", "edge"),
        default_aux_tasks=(),
        train_size=(512, 512),
        metric_options={"edge": {"max_dist": 0.0075}},
        description="PASCAL-Context multi-task version (4998 train / 5105 val, evaluated at original size)",
        geometry="release: flip, rotate ±20° and scale 0.75–1.25 as one warp about the centre at the "
        "original size (fill 0), whole image resized to 512×512 (train+test, aspect not kept); "
        "image/normals bicubic, other targets nearest; predictions resized to the original size "
        "(labels nearest, rest bilinear); edge GT = thinned seg2bmap of LabelMap",
    )
)


def list_datasets() -> list[str]:
    """Registered dataset names, in registration order."""
    return list(DATASETS)


def get_dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS, "Run 'mtbench list datasets'.")
    return DATASETS[name]
