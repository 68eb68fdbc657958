"""Dataset specs: what a dataset provides, without touching its files (profiling and models need only this)."""
from __future__ import annotations

from dataclasses import dataclass, field

from mtbench.errors import UsageError, unknown_name


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset.

    ``num_classes`` maps classification tasks (semseg, human_parts) to their class counts;
    ``train_size`` is the model's input (H, W) in training; ``eval_size`` its input at evaluation (None =
    the run's train_size). NYUD and PASCAL-Context score predictions at each image's original size.
    ``geometry`` says in words what the data pipeline does to the images (augmentation, sizes,
    interpolation) for the run record.
    """

    name: str
    tasks: tuple[str, ...]
    num_classes: dict[str, int] = field(default_factory=dict)
    default_tasks: tuple[str, ...] = ()
    default_aux_tasks: tuple[str, ...] = ()
    train_size: tuple[int, int] = (480, 640)
    eval_size: tuple[int, int] | None = None
    edge_max_dist: float = 0.011
    needs_root: bool = True
    description: str = ""
    geometry: str = ""   # the augmentation and resizing protocol, short, stored in every run record

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


DATASETS: dict[str, DatasetSpec] = {
    "synthetic": DatasetSpec(
        name="synthetic",
        tasks=("semseg", "depth", "normals", "edge", "saliency", "human_parts"),
        num_classes={"semseg": 10, "human_parts": 7},
        default_tasks=("semseg", "depth"),
        default_aux_tasks=("normals", "edge"),
        train_size=(128, 160),
        eval_size=(128, 160),
        edge_max_dist=0.011,
        needs_root=False,
        description="procedural indoor scenes, exact ground truth for all six tasks (embedded, no download)",
        geometry="mtbench: train flip, scale 1-1.25, random crop at the run's size, colour jitter; eval none",
    ),
    "nyud": DatasetSpec(
        name="nyud",
        tasks=("semseg", "depth", "normals", "edge"),
        num_classes={"semseg": 40},
        default_tasks=("semseg", "depth"),
        default_aux_tasks=(),
        train_size=(480, 640),
        eval_size=(480, 640),
        edge_max_dist=0.011,
        description="NYUD-v2 multi-task version (795 train / 654 val, 480x640)",
        geometry="release: flip, zoom {1, 1.2, 1.5} about the centre (depth ÷ zoom), train and test at "
                 "480×640; image/normals bicubic (normals renormalised), other targets nearest; scored at "
                 "the original size; edge GT = thinned seg2bmap of edge/*.npy",
    ),
    "pascal_context": DatasetSpec(
        name="pascal_context",
        tasks=("semseg", "human_parts", "saliency", "normals", "edge"),
        num_classes={"semseg": 21, "human_parts": 7},
        default_tasks=("semseg", "human_parts", "saliency", "normals", "edge"),
        default_aux_tasks=(),
        train_size=(512, 512),
        eval_size=(512, 512),
        edge_max_dist=0.0075,
        description="PASCAL-Context multi-task version (4998 train / 5105 val, evaluated at original size)",
        geometry="release: flip, rotate ±20° and scale 0.75–1.25 as one warp about the centre at the "
                 "original size (fill 0), whole image resized to 512×512 (train+test, aspect not kept); "
                 "image/normals bicubic, other targets nearest; predictions resized to the original size "
                 "(labels nearest, rest bilinear); edge GT = thinned seg2bmap of LabelMap",
    ),
}


def get_dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS, "Run 'mtbench list datasets'.")
    return DATASETS[name]
