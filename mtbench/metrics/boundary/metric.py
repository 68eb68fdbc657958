"""The streaming boundary metric of the edge task (``mtbench run``/``eval``): ODS-F, OIS-F and AP.

Convention: percent (0-100), higher is better; ``ods_threshold`` is a fraction in (0, 1). The protocol,
thresholds and matching radius are those of ``EdgeEvalConfig`` (``evaluate`` module doc).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mtbench.metrics.base import Metric, MetricSpec
from mtbench.metrics.boundary.evaluate import (
    DEFAULT_MAX_DIST,
    EdgeEvalConfig,
    check_protocol,
    crop_valid,
    evaluate_image,
    make_thresholds,
)
from mtbench.metrics.boundary.scores import best_index, summarize


class BoundaryMetric(Metric):
    """Streaming ODS/OIS/AP. Convention: percent, higher is better; per-threshold counts summed over images.

    ``protocol``: "release" (default), "seism" or "bsds"; ``nms``: edge NMS of the predictions first
    (default off); ``thresholds``: a count, "seism" or a list (``make_thresholds``).

    ``update(pred, target)``: pred = probabilities B×1×H×W (or B×H×W), target = B×1×H×W in {0, 1}
    with ``ignore_index`` (255) marking padding: each image is evaluated on the bounding box of its
    non-ignored pixels (ignored pixels inside count as non-boundary).

    State (all sums, so ``merge``/``all_reduce`` are exact): ``counts`` K×4 (matched_pred, total_pred,
    matched_gt, total_gt per threshold), ``ois_counts`` 4 (each image's counts at its own best
    threshold), ``n_images``.
    """

    specs = (
        MetricSpec("odsF", "%", True),
        MetricSpec("odsF_max", "%", True),
        MetricSpec("odsF_interp", "%", True),
        MetricSpec("oisF", "%", True),
        MetricSpec("AP", "%", True),
    )

    # State tensors, created by ``add_state`` in ``__init__``.
    counts: torch.Tensor
    ois_counts: torch.Tensor
    n_images: torch.Tensor

    def __init__(
        self,
        max_dist: float = DEFAULT_MAX_DIST,
        thresholds: int | str | Sequence[float] = 99,
        nms: bool = False,
        protocol: str = "release",
        ignore_index: int | None = 255,
    ) -> None:
        super().__init__()
        t = make_thresholds(thresholds)
        name = check_protocol(protocol, option="eval.options.edge.protocol")
        self.config = EdgeEvalConfig(
            max_dist=float(max_dist), thresholds=tuple(t.tolist()), nms=bool(nms), protocol=name
        )
        self.ignore_index = ignore_index
        self.add_state("counts", torch.zeros(len(t), 4, dtype=torch.int64))
        self.add_state("ois_counts", torch.zeros(4, dtype=torch.int64))
        self.add_state("n_images", torch.zeros(1, dtype=torch.int64))

    def protocol(self) -> dict:
        """How the numbers were made (stored in the run record): keys max_dist, protocol, thresholds,
        binarise, nms, prediction, gt, matching, ods, ois, ap, source (``EdgeEvalConfig.describe``)."""
        return self.config.describe()

    def add_image_counts(self, counts: np.ndarray) -> None:
        """Fold one image's K×4 counts into the state."""
        c = torch.as_tensor(np.asarray(counts), dtype=torch.int64, device=self.counts.device)
        self.counts += c
        self.ois_counts += c[best_index(np.asarray(counts))]
        self.n_images += 1

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        if pred.dim() == 3:
            pred = pred.unsqueeze(1)
        if target.dim() == 3:
            target = target.unsqueeze(1)
        if pred.shape[1] != 1 or pred.shape != target.shape:
            raise ValueError(
                f"BoundaryMetric expects pred and target B×1×H×W, got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        self._sync_device(pred)
        p_all = pred.detach().float().cpu().numpy()[:, 0]
        t_all = target.detach().cpu().numpy()[:, 0]
        for p, t in zip(p_all, t_all):
            p, g = crop_valid(np.clip(p, 0.0, 1.0), np.rint(t).astype(np.int64), self.ignore_index)
            if g.size == 0:
                continue  # nothing valid in this image (pure padding)
            self.add_image_counts(evaluate_image(p, g, self.config))

    def compute(self) -> dict[str, float]:
        if int(self.n_images.item()) == 0:
            return {s.name: float("nan") for s in self.specs} | {"ods_threshold": float("nan")}
        out = summarize(
            np.asarray(self.config.thresholds),
            self.counts.cpu().numpy(),
            self.ois_counts.cpu().numpy(),
            self.config.protocol,
        )
        return {k: (v if "threshold" in k else 100.0 * v) for k, v in out.items()}


def make_boundary_metric(max_dist: float | None = None, **opts) -> BoundaryMetric:
    """Factory used by the edge task (``max_dist`` None = DEFAULT_MAX_DIST, PASCAL-Context's 0.0075;
    ``opts``: protocol, nms, thresholds, ignore_index)."""
    return BoundaryMetric(max_dist=DEFAULT_MAX_DIST if max_dist is None else max_dist, **opts)
