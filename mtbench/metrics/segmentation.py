"""Mean intersection-over-union from a confusion matrix accumulated over the whole split."""

from __future__ import annotations

import logging

import torch

from mtbench.metrics.base import Metric, MetricSpec

log = logging.getLogger(__name__)


class MeanIoU(Metric):
    """Mean IoU over classes (semantic segmentation, human parts).

    Convention: percent (0-100), higher is better; one confusion matrix (int64, rows = target,
    columns = prediction) over the whole split; pixels whose target equals ``ignore_index`` are skipped.

    ``compute()`` returns
    - ``mIoU``: mean over *all* ``num_classes`` classes of TP / (TP + FP + FN); a class whose union is
      empty (never in the target, never predicted) counts 0 (the MTI-Net release's convention);
    - ``mIoU_nonempty``: mean over the classes with a non-empty union (mmseg's nan-mean);
    - ``pixel_acc``: correctly labelled valid pixels / valid pixels;
    - ``IoU_<k>``: the IoU of class k (0-based).
    A target label outside [0, num_classes) that is not ``ignore_index`` raises ``ValueError``, as does a
    predicted label outside that range at a valid pixel.
    """

    specs = (
        MetricSpec("mIoU", "%", True),
        MetricSpec("mIoU_nonempty", "%", True),
        MetricSpec("pixel_acc", "%", True),
    )
    per_class = MetricSpec("IoU", "%", True)

    # State tensors, created by ``add_state`` in ``__init__``.
    confusion: torch.Tensor

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"MeanIoU needs num_classes >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.add_state("confusion", torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64))

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred: labels B×H×W (any integer dtype); target: labels B×H×W with ``ignore_index`` skipped."""
        target = self._begin_update(pred, target).long()
        pred = pred.long()
        if self.ignore_index is not None:
            valid = target != self.ignore_index
            target, pred = target[valid], pred[valid]
        else:
            target, pred = target.reshape(-1), pred.reshape(-1)
        c = self.num_classes
        for what, labels in (("target", target), ("predicted", pred)):
            bad = (labels < 0) | (labels >= c)
            if bool(bad.any()):
                value = int(labels[bad][0])
                raise ValueError(
                    f"MeanIoU: {what} label {value} is outside [0, {c}) and is not the ignore_index {self.ignore_index}"
                )
        counts = torch.bincount(target * c + pred, minlength=c * c)
        self.confusion += counts.reshape(c, c)

    def compute(self) -> dict[str, float]:
        conf = self.confusion.to(torch.float64)
        total = float(conf.sum())
        if total == 0:
            log.warning("MeanIoU.compute() with no valid pixels; returning NaN")
            return {s.name: float("nan") for s in self.metric_specs(self.num_classes)}
        tp = conf.diagonal()
        union = conf.sum(0) + conf.sum(1) - tp
        nonempty = union > 0
        iou = torch.where(nonempty, tp / union.clamp(min=1), torch.zeros_like(tp))
        out = {
            "mIoU": 100.0 * float(iou.mean()),
            "mIoU_nonempty": 100.0 * float(iou[nonempty].mean()),
            "pixel_acc": 100.0 * float(tp.sum()) / total,
        }
        out.update({f"IoU_{k}": 100.0 * float(v) for k, v in enumerate(iou.tolist())})
        return out
