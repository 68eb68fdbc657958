"""Surface-normal angle errors pooled over every valid pixel of the split."""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F

from mtbench.metrics.base import Metric, MetricSpec

log = logging.getLogger(__name__)

BIN_DEG = 0.01
"""Width of the angle histogram used for the (mergeable) median, in degrees."""
N_BINS = round(180.0 / BIN_DEG)
THRESHOLDS_DEG = (11.25, 22.5, 30.0)


def _valid_normals(target: torch.Tensor) -> torch.Tensor:
    # Same rule as mtbench.tasks.normals.valid_normals (kept local: tasks import metrics, not the reverse).
    finite = torch.isfinite(target).all(dim=1)
    return finite & (torch.nan_to_num(target).norm(dim=1) > 0.5)


class NormalsMetric(Metric):
    """Angle between predicted and ground-truth normals.

    Convention: degrees, lower is better for ``mean``, ``median``, ``rmse``; ``a11.25``, ``a22.5``,
    ``a30`` are the percent of pixels with an angle strictly below that many degrees, higher is better.
    Pooled over all valid pixels of the split (valid = target finite with norm > 0.5, i.e. not the
    all-zero "invalid" vector). Both vectors are L2-normalised, the dot product is clamped to [-1, 1]
    and the angle is acos of it, computed in float64.

    The median is read from a histogram of the angles with ``BIN_DEG`` = 0.01° bins over [0°, 180°]
    (additive, so it merges and all-reduces): each order statistic is placed by linear interpolation
    within its bin, and for an even count the two middle ones are averaged, so the result is within
    0.01° of the exact median. Mean, RMSE and the percentages are exact.
    """

    specs = (
        MetricSpec("mean", "deg", False),
        MetricSpec("median", "deg", False),
        MetricSpec("rmse", "deg", False),
        MetricSpec("a11.25", "%", True),
        MetricSpec("a22.5", "%", True),
        MetricSpec("a30", "%", True),
    )

    # State tensors, created by ``add_state`` in ``__init__``.
    sum_angle: torch.Tensor
    sum_sq: torch.Tensor
    n_within: torch.Tensor
    hist: torch.Tensor
    count: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("sum_angle", torch.zeros((), dtype=torch.float64))
        self.add_state("sum_sq", torch.zeros((), dtype=torch.float64))
        self.add_state("n_within", torch.zeros(len(THRESHOLDS_DEG), dtype=torch.int64))
        self.add_state("hist", torch.zeros(N_BINS, dtype=torch.int64))
        self.add_state("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred: normals B×3×H×W (normalised here again); target: unit normals B×3×H×W, zero = invalid."""
        if pred.dim() != 4 or pred.shape[1] != 3:
            raise ValueError(
                f"NormalsMetric: expected pred and target of shape B×3×H×W, got "
                f"{tuple(pred.shape)} and {tuple(target.shape)}"
            )
        target = self._begin_update(pred, target)
        valid = _valid_normals(target)
        p = F.normalize(pred.to(torch.float64), dim=1)
        t = F.normalize(torch.nan_to_num(target.to(torch.float64)), dim=1)
        dot = (p * t).sum(dim=1)[valid].clamp(-1.0, 1.0)
        ang = torch.rad2deg(torch.acos(dot))
        self.sum_angle += ang.sum()
        self.sum_sq += (ang * ang).sum()
        bounds = torch.tensor(THRESHOLDS_DEG, dtype=torch.float64, device=pred.device)
        self.n_within += (ang[:, None] < bounds).sum(0)
        idx = torch.floor(ang / BIN_DEG).long().clamp(0, N_BINS - 1)
        self.hist += torch.bincount(idx, minlength=N_BINS)
        self.count += ang.numel()

    def bootstrap_state_names(self, key: str) -> list[str]:
        """Only the median reads the angle histogram (N_BINS counts, too many to keep per image): a bootstrap
        of any other key keeps the small states only (its replicates report no median)."""
        names = super().bootstrap_state_names(key)
        return names if key == "median" else [n for n in names if n != "hist"]

    def _order_statistic(self, cum: torch.Tensor, k: int) -> float:
        """Approximate k-th smallest angle (1-based) from the histogram's cumulative counts."""
        b = int(torch.searchsorted(cum, torch.tensor([k], dtype=cum.dtype, device=cum.device))[0])
        before = int(cum[b - 1]) if b > 0 else 0
        in_bin = int(cum[b]) - before
        return (b + (k - before - 0.5) / in_bin) * BIN_DEG

    def _median(self) -> float:
        n = int(self.count)
        cum = torch.cumsum(self.hist, 0)
        if n % 2:
            return self._order_statistic(cum, (n + 1) // 2)
        return 0.5 * (self._order_statistic(cum, n // 2) + self._order_statistic(cum, n // 2 + 1))

    def compute(self) -> dict[str, float]:
        n = int(self.count)
        if n == 0:
            log.warning("NormalsMetric.compute() with no valid pixels; returning NaN")
            return {s.name: float("nan") for s in self.specs}
        within = (100.0 * self.n_within.to(torch.float64) / n).tolist()
        return {
            "mean": float(self.sum_angle) / n,
            # the histogram holds every counted angle, except in a bootstrap replicate that left it out
            "median": self._median() if int(self.hist.sum()) == n else float("nan"),
            "rmse": math.sqrt(float(self.sum_sq) / n),
            "a11.25": within[0],
            "a22.5": within[1],
            "a30": within[2],
        }
