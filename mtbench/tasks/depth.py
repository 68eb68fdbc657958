"""Monocular depth: masked L1 on valid pixels (target > 0), RMSE pooled over the split."""

from __future__ import annotations

from collections.abc import Sequence

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
        return self.losses([output], target)[0]

    def losses(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]:
        """Mean |output - target| over the valid pixels. masked_select picks the same values in the same order
        as boolean indexing (``output[valid]``), without its slower nonzero + index (and index_put backward)."""
        valid = valid_depth(target)
        if not bool(valid.any()):
            return [output.sum() * 0.0 for output in outputs]
        t = target.masked_select(valid)
        return [(output.masked_select(valid) - t).abs().mean() for output in outputs]

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
