"""What a constant predictor scores on a run configuration's evaluation split, with the harness's own
metrics: the floor that a trained model must be far from.

Convention: the constant is estimated on the un-augmented training split of the same data (the same
seed, size and counts as the run): semseg / human_parts / saliency predict the most frequent label
everywhere, depth the mean valid depth, normals the normalised mean normal. Tasks without a meaningful
constant (edge) are left out. Returns ``{task: metrics}`` like a record's ``metrics``.
"""
from __future__ import annotations

import torch

from mtbench.config import RunConfig
from mtbench.data import build_dataset
from mtbench.registry import get_task

_MAJORITY = ("semseg", "human_parts", "saliency")
SUPPORTED = (*_MAJORITY, "depth", "normals")


def _fit(task: str, samples, num_classes: int | None) -> torch.Tensor:
    """The constant of ``task`` (class index, depth in metres, or unit normal) from the training samples."""
    if task in _MAJORITY:
        counts = torch.zeros(max(num_classes or 2, 2), dtype=torch.int64)
        for s in samples:
            lab = s[task][s[task] != 255]
            counts += torch.bincount(lab.flatten().long(), minlength=len(counts))[: len(counts)]
        return counts.argmax()
    if task == "depth":
        total, n = 0.0, 0
        for s in samples:
            d = s["depth"][(s["depth"] > 0) & torch.isfinite(s["depth"])]
            total, n = total + float(d.double().sum()), n + d.numel()
        return torch.tensor(total / max(n, 1))
    mean = torch.zeros(3, dtype=torch.float64)
    for s in samples:
        v = s["normals"].reshape(3, -1).double()
        mean += v[:, v.norm(dim=0) > 0.5].sum(1)
    return (mean / mean.norm().clamp_min(1e-12)).float()


def _constant_like(task: str, value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A prediction of the shape ``predict`` returns for ``target`` (batch dim added)."""
    if task == "saliency":  # the task predicts probabilities
        return torch.full(target.shape, float(value))[None]
    if task in _MAJORITY:
        return torch.full_like(target, int(value))[None]
    if task == "depth":
        return torch.full_like(target, float(value))[None]
    return value.view(3, 1, 1).expand_as(target)[None].clone()


def constant_scores(cfg: RunConfig) -> dict[str, dict[str, float]]:
    """Metrics of the constant predictor for each supported main task of ``cfg`` on its evaluation split."""
    from mtbench.engine.run import resolve_experiment

    exp = resolve_experiment(cfg)
    tasks = [t for t in exp.tasks if t in SUPPORTED]
    common = dict(root=cfg.data.root, seed=cfg.run.seed, tasks=tasks, train=False)
    synthetic = cfg.data.dataset == "synthetic"
    train = build_dataset(cfg.data.dataset, "train", size=exp.train_size if synthetic else None,
                          n=cfg.data.n_train, **common)
    val = build_dataset(cfg.data.dataset, cfg.eval.split, size=exp.eval_size if synthetic else None,
                        n=cfg.data.n_val, **common)
    train_samples = [train[i] for i in range(len(train))]
    out = {}
    for t in tasks:
        n_cls = exp.spec.num_classes.get(t)
        value = _fit(t, train_samples, n_cls)
        metric = get_task(t).make_metric(n_cls)
        for i in range(len(val)):
            s = val[i]
            metric.update(_constant_like(t, value, s[t]), s[t][None])
        out[t] = metric.compute()
    return out
