"""Depth errors pooled over every valid pixel of the split (not a mean of per-image errors)."""

from __future__ import annotations

import logging

import torch

from mtbench.metrics.base import Metric, MetricSpec

log = logging.getLogger(__name__)

# Predictions <= 0 become this many metres before every depth metric (evaluation/eval_depth.py of the
# MTI-Net release: ``output[output <= 0] = 1e-9``).
LOG_EPS = 1e-9


def valid_depth(target: torch.Tensor) -> torch.Tensor:
    """The pixels that have a depth: target > 0 and finite (0 or non-finite marks missing depth)."""
    return (target > 0) & torch.isfinite(target)


def clamp_depth(pred: torch.Tensor) -> torch.Tensor:
    """The release's clamp: every prediction <= 0 becomes ``LOG_EPS``; positive values are kept as they are."""
    return torch.where(pred <= 0, torch.full_like(pred, LOG_EPS), pred)


class DepthMetric(Metric):
    """Depth regression errors.

    Convention: ``rmse`` in metres, lower is better; pooled over all valid pixels of the split
    (valid = target > 0 and finite). Also ``log_rmse`` (natural log, unitless), ``abs_rel``
    (mean |p - t| / t), ``sq_rel`` (mean (p - t)² / t, metres), lower is better, and ``delta1..3``:
    percent of pixels with max(p/t, t/p) < 1.25**k, higher is better.

    As the MTI-Net release, predictions <= 0 are set to ``LOG_EPS`` = 1e-9 m before every metric, so
    a non-positive prediction gives a large, finite log error and counts as 1e-9 m in ``rmse``. State is
    float64 sums and int64 counts, so merge and all-reduce are exact sums.
    """

    specs = (
        MetricSpec("rmse", "m", False),
        MetricSpec("log_rmse", "", False),
        MetricSpec("abs_rel", "", False),
        MetricSpec("sq_rel", "m", False),
        MetricSpec("delta1", "%", True),
        MetricSpec("delta2", "%", True),
        MetricSpec("delta3", "%", True),
    )

    # State tensors, created by ``add_state`` in ``__init__``.
    sum_sq: torch.Tensor
    sum_log_sq: torch.Tensor
    sum_abs_rel: torch.Tensor
    sum_sq_rel: torch.Tensor
    n_delta: torch.Tensor
    count: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("sum_sq", torch.zeros((), dtype=torch.float64))
        self.add_state("sum_log_sq", torch.zeros((), dtype=torch.float64))
        self.add_state("sum_abs_rel", torch.zeros((), dtype=torch.float64))
        self.add_state("sum_sq_rel", torch.zeros((), dtype=torch.float64))
        self.add_state("n_delta", torch.zeros(3, dtype=torch.int64))
        self.add_state("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred: metres B×1×H×W; target: metres B×1×H×W, 0 or non-finite = invalid."""
        target = self._begin_update(pred, target)
        valid = valid_depth(target)
        t = target[valid].to(torch.float64)
        p = clamp_depth(pred[valid].to(torch.float64))
        err = p - t
        sq = err * err
        log_err = torch.log(p) - torch.log(t)
        ratio = torch.maximum(p / t, t / p)
        self.sum_sq += sq.sum()
        self.sum_log_sq += (log_err * log_err).sum()
        self.sum_abs_rel += (err.abs() / t).sum()
        self.sum_sq_rel += (sq / t).sum()
        bounds = torch.tensor([1.25, 1.25**2, 1.25**3], dtype=torch.float64, device=pred.device)
        self.n_delta += (ratio[:, None] < bounds).sum(0)
        self.count += t.numel()

    def compute(self) -> dict[str, float]:
        n = int(self.count)
        if n == 0:
            log.warning("DepthMetric.compute() with no valid pixels; returning NaN")
            return {s.name: float("nan") for s in self.specs}
        delta = (100.0 * self.n_delta.to(torch.float64) / n).tolist()
        return {
            "rmse": float(torch.sqrt(self.sum_sq / n)),
            "log_rmse": float(torch.sqrt(self.sum_log_sq / n)),
            "abs_rel": float(self.sum_abs_rel / n),
            "sq_rel": float(self.sum_sq_rel / n),
            "delta1": delta[0],
            "delta2": delta[1],
            "delta3": delta[2],
        }
