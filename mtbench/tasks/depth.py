"""Monocular depth: masked L1 on valid pixels (target > 0), RMSE pooled over the split."""

from __future__ import annotations

import torch

from mtbench.metrics.base import Metric
from mtbench.metrics.depth import DepthMetric, valid_depth
from mtbench.registry import register_task
from mtbench.tasks.base import Task

DEPTH_EVAL = "pred<=0 -> 1e-9 before metrics"  # the release's clamp (``clamp_depth``), named in records


class DepthTask(Task):
    """Targets are float B×1×H×W in metres, 0 (or non-finite) = invalid."""

    def out_channels(self, num_classes: int | None = None) -> int:
        return 1

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = valid_depth(target)
        if not bool(valid.any()):
            return output.sum() * 0.0
        return (output[valid] - target[valid]).abs().mean()

    def protocol(self, *, evaluated: bool, metric_protocol: dict | None = None) -> dict[str, str]:
        return {"depth_eval": DEPTH_EVAL} if evaluated else {}

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return output

    def metric_class(self) -> type[Metric]:
        return DepthMetric


DEPTH = register_task(
    DepthTask(
        name="depth",
        primary="rmse",
        description="depth in metres (RMSE m, lower is better)",
    )
)
