"""Surface normals: L1 between unit-normalised prediction and target, averaged over valid elements
(3 per valid pixel, as the MTI-Net release's ``NormalsLoss``); angle metrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mtbench.metrics.base import Metric
from mtbench.registry import register_task
from mtbench.tasks.base import Task


def valid_normals(target: torch.Tensor) -> torch.Tensor:
    """B×H×W mask of pixels whose target normal is a finite, non-zero vector (invalid = zero vector)."""
    finite = torch.isfinite(target).all(dim=1)
    return finite & (torch.nan_to_num(target).norm(dim=1) > 0.5)


NORMALS_LOSS_ELEMENTS = 3  # the loss is normalised per valid element, 3 per pixel
NORMALS_LOSS_NORMALISATION = "per_element"


class NormalsTask(Task):
    """Targets are float B×3×H×W unit vectors in the camera frame (NYUD convention), zero = invalid."""

    def out_channels(self, num_classes: int | None = None) -> int:
        return 3

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Σ |n̂ − n| over the 3 components of every valid pixel, divided by the number of valid ELEMENTS
        (3 × valid pixels): the release sums the masked L1 and divides by the count of unmasked values."""
        return self.losses([output], target)[0]

    def losses(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]:
        valid = valid_normals(target)  # the target's mask, clean values and count: once for all outputs
        if not bool(valid.any()):
            return [output.sum() * 0.0 for output in outputs]
        clean = torch.nan_to_num(target)
        n_elements = NORMALS_LOSS_ELEMENTS * valid.sum()
        out = []
        for output in outputs:
            pred = F.normalize(output, dim=1)
            diff = (pred - clean).abs().sum(dim=1)  # L1 over the 3 components, per pixel
            out.append(diff.masked_select(valid).sum() / n_elements)  # masked_select: diff[valid], faster
        return out

    def protocol(self, *, evaluated: bool, metric_protocol: dict | None = None) -> dict[str, str]:
        return {"normals_loss": NORMALS_LOSS_NORMALISATION}

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return F.normalize(output, dim=1)

    def metric_class(self) -> type[Metric]:
        from mtbench.metrics.normals import NormalsMetric

        return NormalsMetric


NORMALS = register_task(
    NormalsTask(
        name="normals",
        primary="mean",
        unit_vector=True,
        description="surface normals (mean angle error in degrees, lower is better)",
    )
)
