"""The Task interface: what a dense-prediction task declares to the harness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from mtbench.metrics.base import Metric, MetricSpec


@dataclass(frozen=True)
class Task:
    """A dense-prediction task.

    - ``out_channels(num_classes)``: model output channels (dataset-dependent for semseg/human_parts).
    - ``loss(output, target)``: the training loss on raw model output at target resolution; ``losses(outputs,
      target)`` the same for several outputs against one target.
    - ``predict(output)``: raw output -> prediction in the metric's form (labels, metres, unit vectors,
      probabilities).
    - ``metric_class()``: the streaming metric's class; ``make_metric(num_classes, **options)`` a fresh one.
    - ``metric_specs(num_classes)`` / ``metric_spec(key)``: what the metric reports (unit, direction),
      read from the class without building a metric.
    - ``protocol(...)``: the task's choices that change results, for the run record.
    - ``primary``: the name of the reported metric entering Δm (``primary_spec`` its unit and direction);
      ``in_delta_m`` False excludes the task from Δm (with ``note`` saying why).
    """

    name: str
    primary: str
    ignore_index: int | None = None
    in_delta_m: bool = True
    note: str = ""
    description: str = ""
    target_dtype: torch.dtype = field(default=torch.float32)
    unit_vector: bool = False  # predictions are unit vectors: renormalised after resizing

    def protocol(self, *, evaluated: bool, metric_protocol: dict[str, Any] | None = None) -> dict[str, str]:
        """Choices of this task that change results (``RunRecord.protocol`` entries ``<task>_loss`` /
        ``<task>_eval``) for a run that trains it, and evaluates it when ``evaluated``; ``metric_protocol``
        is its metric's ``protocol()``. None by default."""
        return {}

    def out_channels(self, num_classes: int | None = None) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def losses(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]:
        """``[self.loss(o, target) for o in outputs]``: every prediction of this task against one target (the
        final output and the deep-supervision outputs of MTI-Net and PAD-Net). The built-in tasks override it to
        do the work that depends on the target alone (masks, counts) once; same numbers as ``loss``."""
        return [self.loss(o, target) for o in outputs]

    def predict(self, output: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def metric_class(self) -> type[Metric]:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_metric(self, num_classes: int | None = None, **options: Any) -> Metric:
        """A fresh metric; ``options`` come from the dataset's and the run's metric options."""
        return self.metric_class()(**options)

    def metric_specs(self, num_classes: int | None = None) -> tuple[MetricSpec, ...]:
        return self.metric_class().metric_specs(num_classes)

    def metric_spec(self, key: str) -> MetricSpec | None:
        """The spec of a reported key (per-class keys such as ``IoU_3`` included), None if not reported."""
        return self.metric_class().find_spec(key)

    @property
    def primary_spec(self) -> MetricSpec:
        spec = self.metric_spec(self.primary)
        if spec is None:
            raise ValueError(
                f"task '{self.name}': primary metric '{self.primary}' is not reported by {self.metric_class().__name__}"
            )
        return spec
