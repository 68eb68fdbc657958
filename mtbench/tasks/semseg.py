"""Semantic segmentation: cross-entropy with ignore 255, mIoU over the whole split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from mtbench.metrics.base import Metric
from mtbench.registry import register_task
from mtbench.tasks.base import Task

if TYPE_CHECKING:
    from mtbench.metrics.segmentation import MeanIoU


class SegmentationTask(Task):
    """Per-pixel classification; targets are int64 B×H×W with 255 = ignore."""

    def out_channels(self, num_classes: int | None = None) -> int:
        if not num_classes:
            raise ValueError(f"task '{self.name}' needs the dataset's number of classes")
        return num_classes

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.losses([output], target)[0]

    def losses(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]:
        ignore_index = self.ignore_index
        if ignore_index is None:  # was an AttributeError on ``bool.all`` below; F.cross_entropy needs an int too
            raise ValueError(f"task '{self.name}' needs an integer ignore_index, got None")
        if bool((target == ignore_index).all()):  # e.g. human_parts on an image without people
            return [output.sum() * 0.0 for output in outputs]
        labels = target.long()
        return [F.cross_entropy(output, labels, ignore_index=ignore_index) for output in outputs]

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return output.argmax(dim=1)

    def metric_class(self) -> type[MeanIoU]:
        from mtbench.metrics.segmentation import MeanIoU

        return MeanIoU

    def make_metric(self, num_classes: int | None = None, **options) -> Metric:
        return self.metric_class()(self.out_channels(num_classes), ignore_index=self.ignore_index, **options)


SEMSEG = register_task(
    SegmentationTask(
        name="semseg",
        primary="mIoU",
        ignore_index=255,
        target_dtype=torch.int64,
        description="semantic segmentation (mIoU %, higher is better)",
    )
)
