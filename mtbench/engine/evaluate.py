"""Evaluation: every main task's metric over a split, reduced across processes."""
from __future__ import annotations

import contextlib
import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mtbench.data.spec import DatasetSpec
from mtbench.metrics.base import Metric
from mtbench.registry import get_task


def make_metrics(tasks: list[str], spec: DatasetSpec, options: dict[str, dict[str, Any]] | None = None
                 ) -> dict[str, Metric]:
    """One fresh metric per task; ``options[task]`` are passed to the task's metric factory (e.g. the
    edge task's ``max_dist``, which defaults to the dataset's protocol value)."""
    options = options or {}
    metrics = {}
    for t in tasks:
        task = get_task(t)
        opts = dict(options.get(t, {}))
        accepted = inspect.signature(task.make_metric).parameters
        if t == "edge" and "max_dist" in accepted:
            opts.setdefault("max_dist", spec.edge_max_dist)
        metrics[t] = task.make_metric(spec.num_classes.get(t), **opts)
    return metrics


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


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, tasks: list[str], spec: DatasetSpec,
             device: torch.device, *, amp: str = "none", channels_last: bool = False,
             options: dict[str, dict[str, Any]] | None = None, distributed: bool = False
             ) -> dict[str, dict[str, float]]:
    """Run the model over ``loader`` and return {task: {metric: value}} (summed over ranks if distributed)."""
    metrics = make_metrics(tasks, spec, options)
    was_training = model.training
    model.eval()
    try:
        for batch in loader:
            batch = to_device(batch, device, channels_last)
            with autocast(device, amp):
                out = model(batch["image"])
            for t in tasks:
                pred = out[t].float()
                target = batch[t]
                if pred.shape[-2:] != target.shape[-2:]:
                    pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
                metrics[t].update(get_task(t).predict(pred), target)
    finally:
        model.train(was_training)
    result = {}
    for t, m in metrics.items():
        if distributed:
            m.all_reduce()
        result[t] = m.compute()
    return result
