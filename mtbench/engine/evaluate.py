"""Evaluation: every main task's metric over a split, reduced across processes.

Predictions are scored at each image's original size (``meta["size"]``): when the model's input was
resized (NYUD, PASCAL-Context as the MTI-Net release), each prediction is resized back to its image's
original size (``resize_prediction``) and compared with the original-size target.

With ``bootstrap=B`` each task's metric is fed one image at a time and keeps every image's statistic
(``mtbench.metrics.bootstrap``), and ``Evaluation.bootstrap`` holds B bootstrap replicates of each task's
primary metric over the evaluated images (resamples that depend only on the number of images, B and the seed).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mtbench.data.spec import DatasetSpec
from mtbench.metrics.base import Metric
from mtbench.metrics.bootstrap import (
    DEFAULT_SEED,
    BootstrapResult,
    BootstrapUnavailable,
    PerImageRecorder,
    bootstrap_metric,
)
from mtbench.registry import get_task

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What ``evaluate`` measured: ``metrics`` {task: {metric: value}}; for the tasks whose metric
    options change the numbers (e.g. the edge matching radius and protocol), ``protocols`` {task: {...}};
    when a bootstrap was asked for, ``bootstrap`` {task: replicates of its primary metric} and, for the
    tasks without one, ``no_bootstrap`` {task: why}."""

    metrics: dict[str, dict[str, float]]
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)
    bootstrap: dict[str, BootstrapResult] = field(default_factory=dict)
    no_bootstrap: dict[str, str] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """One line per metric protocol and per task left without its bootstrap, as the run record's notes
        show them."""
        out = [f"{t} protocol: " + ", ".join(f"{k}={v}" for k, v in p.items()) for t, p in self.protocols.items()]
        return out + [f"{t}: no bootstrap ({why})" for t, why in self.no_bootstrap.items()]


def make_metrics(
    tasks: list[str], spec: DatasetSpec, options: dict[str, dict[str, Any]] | None = None
) -> dict[str, Metric]:
    """One fresh metric per task, built with the dataset's metric options (``spec.metric_options``, e.g.
    the edge matching radius) overridden by the run's ``options[task]``."""
    options = options or {}
    return {
        t: get_task(t).make_metric(spec.num_classes.get(t), **{**spec.metric_options.get(t, {}), **options.get(t, {})})
        for t in tasks
    }


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """bf16/fp16 autocast on CUDA; a no-op elsewhere or when amp == 'none'."""
    if device.type != "cuda" or amp == "none":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def to_device(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=True)
            if k == "image" and channels_last:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def original_sizes(batch: dict) -> list[tuple[int, int]] | None:
    """Each image's original (H, W) from ``batch["meta"]["size"]`` (as the default collate leaves it:
    two tensors of B values), or None when the batch carries none."""
    meta = batch.get("meta")
    size = meta.get("size") if isinstance(meta, dict) else None
    if size is None or len(size) != 2:
        return None
    hs, ws = (v.tolist() if isinstance(v, torch.Tensor) else v for v in size)
    if not isinstance(hs, list):
        hs, ws = [hs], [ws]
    return [(int(h), int(w)) for h, w in zip(hs, ws)]


def resize_prediction(pred: torch.Tensor, size: tuple[int, int], renormalise: bool = False) -> torch.Tensor:
    """A prediction (``Task.predict`` output, B×C×H×W or B×H×W labels) resized to ``size`` as the release
    resizes predictions back to the original image size (its INFER_FLAGVALS with cv2.resize): labels
    nearest (source index floor(i * in / out), cv2's INTER_NEAREST); probabilities, depth and normals
    bilinear (cv2's INTER_LINEAR: pixel-centre aligned, no antialiasing); ``renormalise`` makes vectors
    unit length again (normals; the release renormalises when it reads them back)."""
    if tuple(pred.shape[-2:]) == tuple(size):
        return pred
    if not pred.is_floating_point():
        x = pred.unsqueeze(1).float() if pred.dim() == 3 else pred.float()
        out = F.interpolate(x, size=size, mode="nearest").round().to(pred.dtype)
        return out[:, 0] if pred.dim() == 3 else out
    out = F.interpolate(pred, size=size, mode="bilinear", align_corners=False)
    return F.normalize(out, dim=1) if renormalise else out


def _update(
    metric: Metric | PerImageRecorder,
    task: str,
    pred: torch.Tensor,
    target: torch.Tensor,
    sizes: list[tuple[int, int]] | None,
) -> None:
    """Fold one batch into ``metric``. When the batch carries original sizes that differ from the
    prediction's or the target's (the release's evaluation: model input resized, targets at the original
    size padded to a canvas), each image's target is cut to its original size and its prediction
    resized to it, so the metric sees exactly the original-size target and no padding."""
    t = cast(tuple[int, int], tuple(target.shape[-2:]))  # targets are (B×)[C×]H×W
    if sizes is None or all(s == t for s in sizes):  # targets not padded: one call for the batch
        metric.update(pred if sizes is None else resize_prediction(pred, t, get_task(task).unit_vector), target)
        return
    for i, (h, w) in enumerate(sizes):
        if h > t[0] or w > t[1]:
            raise ValueError(f"{task}: target is {t[0]}x{t[1]}, smaller than the image's original size {h}x{w}")
        p = resize_prediction(pred[i : i + 1], (h, w), get_task(task).unit_vector)
        metric.update(p, target[i : i + 1, ..., :h, :w])


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: DataLoader,
    tasks: list[str],
    spec: DatasetSpec,
    device: torch.device,
    *,
    amp: str = "none",
    channels_last: bool = False,
    options: dict[str, dict[str, Any]] | None = None,
    distributed: bool = False,
    bootstrap: int = 0,
    bootstrap_seed: int = DEFAULT_SEED,
) -> Evaluation:
    """Run the model over ``loader``: every task's metrics (summed over ranks if distributed) and the
    protocols of the metrics that have options. ``bootstrap`` > 0: that many bootstrap replicates of each
    task's primary metric over the images of ``loader`` (resampled with ``bootstrap_seed``); a task whose
    metric cannot have them is named in ``no_bootstrap`` with the reason. Distributed evaluation has none
    (each process sees only its share of the images)."""
    metrics = make_metrics(tasks, spec, options)
    recorders, no_bootstrap = _recorders(metrics, bootstrap, distributed)
    was_training = model.training
    model.eval()
    try:
        for batch in loader:
            batch = to_device(batch, device, channels_last)
            with autocast(device, amp):
                out = model(batch["image"])
            sizes = original_sizes(batch)
            for t in tasks:
                pred = out[t].float()
                target = batch[t]
                if sizes is None and pred.shape[-2:] != target.shape[-2:]:
                    pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
                _update(recorders.get(t, metrics[t]), t, get_task(t).predict(pred), target, sizes)
    finally:
        model.train(was_training)
    result = {}
    for t, m in metrics.items():
        if distributed:
            m.all_reduce()
        result[t] = m.compute()
    replicates = {}
    for t, rec in recorders.items():
        try:
            replicates[t] = bootstrap_metric(rec.stats(), metrics[t], rec.key, n_boot=bootstrap, seed=bootstrap_seed)
        except BootstrapUnavailable as e:
            no_bootstrap[t] = str(e)
        except Exception as e:  # a metric that breaks on resampled sums must not cost the evaluation
            log.warning("%s: bootstrap of %s failed: %s: %s", t, rec.key, type(e).__name__, e)
            no_bootstrap[t] = f"{type(e).__name__}: {e}"
    protocols = {t: p for t, m in metrics.items() if (p := m.protocol())}
    return Evaluation(result, protocols, replicates, {t: no_bootstrap[t] for t in tasks if t in no_bootstrap})


def _recorders(
    metrics: dict[str, Metric], bootstrap: int, distributed: bool
) -> tuple[dict[str, PerImageRecorder], dict[str, str]]:
    """Per-image recorders of the tasks' primary metrics when a bootstrap is asked for, and why the other
    tasks get none."""
    if bootstrap <= 0:
        return {}, {}
    if distributed:
        why = "distributed evaluation: per-image statistics are kept on one process only"
        return {}, {t: why for t in metrics}
    recorders, no_bootstrap = {}, {}
    for t, m in metrics.items():
        try:
            recorders[t] = PerImageRecorder(m, get_task(t).primary)
        except BootstrapUnavailable as e:
            no_bootstrap[t] = str(e)
    return recorders, no_bootstrap
