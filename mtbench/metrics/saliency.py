"""Saliency: per-image precision, recall and IoU at 15 thresholds, averaged over images."""

from __future__ import annotations

import logging

import numpy as np
import torch

from mtbench.metrics.base import Metric, MetricSpec

log = logging.getLogger(__name__)

THRESHOLDS = tuple(float(x) for x in np.linspace(0.2, 0.9, 15))
"""Binarisation thresholds 0.20, 0.25, ..., 0.90 (ASTMT / MTI-Net release evaluation)."""
BETA2 = 0.3
"""β² of the saliency literature's F-measure (reported as ``maxF``)."""


def f_measure(precision: torch.Tensor, recall: torch.Tensor, beta2: float) -> torch.Tensor:
    """(1 + β²) P R / (β² P + R), and 0 where P = R = 0."""
    num = (1.0 + beta2) * precision * recall
    den = beta2 * precision + recall
    return torch.where(den > 0, num / den.clamp(min=1e-300), torch.zeros_like(num))


class SaliencyMetric(Metric):
    """Salient-object detection scores from probabilities.

    Convention: percent (0-100), higher is better. For each image and threshold θ in ``THRESHOLDS``
    the prediction is binarised as ``prob > θ`` and compared with the mask (target >= 0.5) over the
    image's valid pixels (target != ``ignore_index``); precision, recall and IoU are averaged over
    images per threshold, then
    - ``mIoU`` = max over θ of the mean IoU;
    - ``maxF`` = max over θ of F_β with **β² = 0.3** (the saliency literature's default) computed from
      the mean precision and mean recall at θ;
    - ``maxF_beta1`` = the same with β² = 1. The MTI-Net / ASTMT release's evaluation code reports
      2PR/(P+R) under the name "maxF", i.e. its "maxF" is our ``maxF_beta1``.

    Empty cases (as the release, up to its 1e-12 guards): an empty prediction has precision 0, an
    empty mask has recall 0, and IoU is 1 when both are empty. An image with no valid pixel at all is
    skipped (not counted). State: per-threshold float64 sums over images and an int64 image count.
    """

    specs = (
        MetricSpec("mIoU", "%", True),
        MetricSpec("maxF", "%", True),
        MetricSpec("maxF_beta1", "%", True),
    )

    # State tensors, created by ``add_state`` in ``__init__``.
    sum_precision: torch.Tensor
    sum_recall: torch.Tensor
    sum_iou: torch.Tensor
    n_images: torch.Tensor

    def __init__(self, ignore_index: int | None = 255) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        n = len(THRESHOLDS)
        self.add_state("sum_precision", torch.zeros(n, dtype=torch.float64))
        self.add_state("sum_recall", torch.zeros(n, dtype=torch.float64))
        self.add_state("sum_iou", torch.zeros(n, dtype=torch.float64))
        self.add_state("n_images", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred: probabilities B×1×H×W; target: B×1×H×W in {0, 1}, ``ignore_index`` skipped."""
        target = self._begin_update(pred, target)
        b = pred.shape[0]
        prob = pred.reshape(b, -1).to(torch.float64)
        target = target.reshape(b, -1)
        valid = torch.ones_like(target, dtype=torch.bool) if self.ignore_index is None else target != self.ignore_index
        gt = (target >= 0.5) & valid
        keep = valid.any(dim=1)
        n_gt = gt.sum(dim=1)
        stats = []
        for theta in THRESHOLDS:  # one pass per threshold keeps memory at B×H×W
            fg = (prob > theta) & valid
            tp = (fg & gt).sum(dim=1)
            n_fg = fg.sum(dim=1)
            stats.append(torch.stack([tp, n_fg], dim=1))
        tp, n_fg = torch.stack(stats, dim=1).to(torch.float64).unbind(dim=2)  # B×T each
        n_gt = n_gt.to(torch.float64)[:, None]
        union = n_fg + n_gt - tp
        precision = torch.where(n_fg > 0, tp / n_fg.clamp(min=1), torch.zeros_like(tp))
        recall = torch.where(n_gt > 0, tp / n_gt.clamp(min=1), torch.zeros_like(tp))
        iou = torch.where(union > 0, tp / union.clamp(min=1), torch.ones_like(tp))
        self.sum_precision += precision[keep].sum(0)
        self.sum_recall += recall[keep].sum(0)
        self.sum_iou += iou[keep].sum(0)
        self.n_images += keep.sum()

    def compute(self) -> dict[str, float]:
        n = int(self.n_images)
        if n == 0:
            log.warning("SaliencyMetric.compute() with no valid image; returning NaN")
            return {s.name: float("nan") for s in self.specs}
        precision, recall = self.sum_precision / n, self.sum_recall / n
        return {
            "mIoU": 100.0 * float((self.sum_iou / n).max()),
            "maxF": 100.0 * float(f_measure(precision, recall, BETA2).max()),
            "maxF_beta1": 100.0 * float(f_measure(precision, recall, 1.0).max()),
        }
