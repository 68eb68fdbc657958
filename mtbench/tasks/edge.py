"""Boundary detection: class-balanced BCE with fixed positive weight 0.95; ODS-F / OIS-F / AP evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mtbench.metrics.base import Metric
from mtbench.registry import register_task
from mtbench.tasks._losses import balanced_bce, balanced_bce_many
from mtbench.tasks.base import Task

POS_WEIGHT = 0.95


class EdgeTask(Task):
    """Targets are float B×1×H×W in {0, 1} (boundary pixels), 255 = ignore."""

    def out_channels(self, num_classes: int | None = None) -> int:
        return 1

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return balanced_bce(output, target, pos_weight=POS_WEIGHT, ignore_index=self.ignore_index)

    def losses(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]:
        return balanced_bce_many(outputs, target, pos_weight=POS_WEIGHT, ignore_index=self.ignore_index)

    def protocol(self, *, evaluated: bool, metric_protocol: dict | None = None) -> dict[str, str]:
        """``edge_eval``: the boundary protocol's name ('release', 'seism+nms', ...) when edges are scored."""
        if not (evaluated and metric_protocol):
            return {}
        name = str(metric_protocol.get("protocol", "?"))
        return {"edge_eval": f"{name}+nms" if metric_protocol.get("nms") else name}

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output)

    def metric_class(self) -> type[Metric]:
        from mtbench.metrics.boundary import BoundaryMetric

        return BoundaryMetric

    def make_metric(self, num_classes: int | None = None, *, max_dist: float | None = None, **opts) -> Metric:
        """A fresh BoundaryMetric. ``max_dist`` (fraction of the image diagonal): the dataset's
        ``DatasetSpec.metric_options["edge"]``; None = 0.0075 (PASCAL-Context). ``opts`` (config
        ``eval.options.edge``): ``protocol`` ("release" default, "seism", "bsds"), ``nms`` (default
        False), ``thresholds`` (default 99: 0.01..0.99)."""
        from mtbench.metrics.boundary import make_boundary_metric

        return make_boundary_metric(max_dist=max_dist, ignore_index=self.ignore_index, **opts)


EDGE = register_task(
    EdgeTask(
        name="edge",
        primary="odsF",
        ignore_index=255,
        in_delta_m=True,
        description="boundary detection (ODS-F %, higher is better)",
    )
)
