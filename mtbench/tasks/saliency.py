"""Saliency: balanced BCE (batch-adaptive weight); mIoU and maxF over 15 thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from mtbench.metrics.base import Metric
from mtbench.registry import register_task
from mtbench.tasks._losses import balanced_bce, balanced_bce_many
from mtbench.tasks.base import Task

if TYPE_CHECKING:
    from mtbench.metrics.saliency import SaliencyMetric


class SaliencyTask(Task):
    """Targets are float B×1×H×W in {0, 1}, 255 = ignore."""

    def out_channels(self, num_classes: int | None = None) -> int:
        return 1

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return balanced_bce(output, target, pos_weight=None, ignore_index=self.ignore_index)

    def losses(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]:
        return balanced_bce_many(outputs, target, pos_weight=None, ignore_index=self.ignore_index)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output)

    def metric_class(self) -> type[SaliencyMetric]:
        from mtbench.metrics.saliency import SaliencyMetric

        return SaliencyMetric

    def make_metric(self, num_classes: int | None = None, **options) -> Metric:
        return self.metric_class()(ignore_index=self.ignore_index, **options)


SALIENCY = register_task(
    SaliencyTask(
        name="saliency",
        primary="mIoU",
        ignore_index=255,
        description="salient object detection (max mIoU over thresholds %, higher is better; maxF also reported)",
    )
)
