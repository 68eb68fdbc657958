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
    return finite & longer_than(torch.nan_to_num(target), 0.5)


_NEAR = 1e-5  # relative distance to the threshold below which the norm itself decides


def longer_than(v: torch.Tensor, r: float) -> torch.Tensor:
    """Exactly ``v.norm(dim=1) > r``, without the norm where it can: a vector norm over dim 1 is slow on CPU
    (~16 ms for 2×3×256×320, a step's largest loss cost), the squared length is not. The squared length decides
    every pixel whose length is not within 1e-5 (relative) of ``r``, a margin far wider than the rounding of
    either computation (a few units in the last place, 1e-7 relative in float32); if any pixel is that close,
    the norm decides them all. Float32/64 only (other dtypes: the norm)."""
    if v.dtype not in (torch.float32, torch.float64):
        return v.norm(dim=1) > r
    sq = (v * v).sum(dim=1)
    lo, hi = (r * (1 - _NEAR)) ** 2, (r * (1 + _NEAR)) ** 2
    if bool(((sq > lo) & (sq < hi)).any()):
        return v.norm(dim=1) > r
    return sq >= hi


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
