"""The Task interface: what a dense-prediction task declares to the harness."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mtbench.metrics.base import Metric, MetricSpec


@dataclass(frozen=True)
class Task:
    """A dense-prediction task.

    - ``out_channels(num_classes)``: model output channels (dataset-dependent for semseg/human_parts).
    - ``loss(output, target)``: the training loss on raw model output at target resolution.
    - ``predict(output)``: raw output -> prediction in the metric's form (labels, metres, unit vectors,
      probabilities).
    - ``make_metric(num_classes)``: a fresh streaming metric for this task.
    - ``primary``: the metric entering Δm, with unit and direction; ``in_delta_m`` False excludes the
      task from Δm (with ``note`` saying why).
    """

    name: str
    primary: MetricSpec
    ignore_index: int | None = None
    in_delta_m: bool = True
    note: str = ""
    description: str = ""
    target_dtype: torch.dtype = field(default=torch.float32)

    def out_channels(self, num_classes: int | None = None) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def predict(self, output: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def make_metric(self, num_classes: int | None = None) -> Metric:  # pragma: no cover
        raise NotImplementedError
