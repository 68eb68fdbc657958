"""What a constant predictor scores on a run configuration's evaluation split, with the harness's own
metrics: the floor that a trained model must be far from.

Convention: the constant is estimated on the un-augmented training split of the same data (the same
seed, size and counts as the run): semseg / human_parts / saliency predict the most frequent label
everywhere, depth the mean valid depth, normals the normalised mean normal. Tasks without a meaningful
constant (edge) are left out. ``constant_scores`` returns ``{task: metrics}`` like a record's ``metrics``;
``floor_record`` stores them as a result record (``model: constant``) that the leaderboard page quotes, so the
page never recomputes them (``scripts/constant_baseline.py`` writes it).
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any, cast

import torch

from mtbench.config import RunConfig, validate_config
from mtbench.data import build_dataset
from mtbench.errors import UsageError
from mtbench.metrics.depth import valid_depth
from mtbench.registry import get_task
from mtbench.reporting.results import FLOOR_MODEL, Env, RunRecord

_MAJORITY = ("semseg", "human_parts", "saliency")
SUPPORTED = (*_MAJORITY, "depth", "normals")


class _Estimate:
    """Streaming estimate of one task's constant (class index, depth in metres, or unit normal)."""

    def __init__(self, task: str, num_classes: int | None) -> None:
        self.task = task
        self.counts = torch.zeros(max(num_classes or 2, 2), dtype=torch.int64)
        self.depth_sum, self.n = 0.0, 0
        self.normal_sum = torch.zeros(3, dtype=torch.float64)

    def add(self, target: torch.Tensor) -> None:
        if self.task in _MAJORITY:
            lab = target[target != 255].flatten().long()
            self.counts += torch.bincount(lab, minlength=len(self.counts))[: len(self.counts)]
        elif self.task == "depth":
            d = target[valid_depth(target)]
            self.depth_sum += float(d.double().sum())
            self.n += d.numel()
        else:
            v = target.reshape(3, -1).double()
            self.normal_sum += v[:, v.norm(dim=0) > 0.5].sum(1)

    def value(self) -> torch.Tensor:
        if self.task in _MAJORITY:
            return self.counts.argmax()
        if self.task == "depth":
            return torch.tensor(self.depth_sum / max(self.n, 1))
        return (self.normal_sum / self.normal_sum.norm().clamp_min(1e-12)).float()


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
    common: dict[str, Any] = dict(root=cfg.data.root, seed=cfg.data_seed, tasks=tasks, train=False)
    at_run_size = exp.spec.renders_at_run_size
    train = build_dataset(
        cfg.data.dataset, "train", size=exp.train_size if at_run_size else None, n=cfg.data.n_train, **common
    )
    val = build_dataset(
        cfg.data.dataset, cfg.eval.split, size=exp.eval_size if at_run_size else None, n=cfg.data.n_val, **common
    )
    estimates = {t: _Estimate(t, exp.spec.num_classes.get(t)) for t in tasks}
    # the harness's datasets are map-style with a length (torch's Dataset type declares no __len__)
    for i in range(len(cast(Sized, train))):  # one streaming pass per split: nothing held, each sample read once
        sample = train[i]
        for t in tasks:
            estimates[t].add(sample[t])
    values = {t: e.value() for t, e in estimates.items()}
    metrics = {t: get_task(t).make_metric(exp.spec.num_classes.get(t)) for t in tasks}
    for i in range(len(cast(Sized, val))):
        sample = val[i]
        for t in tasks:
            metrics[t].update(_constant_like(t, values[t], sample[t]), sample[t][None])
    return {t: m.compute() for t, m in metrics.items()}


HOW = (
    "constant predictor: the training split's majority class (semseg, human_parts, saliency), mean valid depth "
    "or normalised mean normal everywhere, estimated on the un-augmented training split (mtbench.constant)"
)


def floor_config(cfg: RunConfig) -> RunConfig:
    """``cfg`` as a floor record stores it: model ``constant`` without backbone or options and no auxiliary tasks;
    data, seed and evaluation split as given."""
    d = cfg.model_dump(mode="json")
    d["model"] = {"name": FLOOR_MODEL, "backbone": "none"}
    d["data"]["aux_tasks"] = []
    return validate_config(d)


def floor_record(cfg: RunConfig) -> RunRecord:
    """The constant predictor's scores on ``cfg``'s data as a result record (``model: constant``): metrics of each
    supported main task, the stored config (:func:`floor_config`), its hash and the environment. The id holds the
    config hash, so writing the floor of the same config again replaces its file."""
    from mtbench.engine.run import resolve_experiment
    from mtbench.engine.runtime import environment

    cfg = floor_config(cfg)
    scores = constant_scores(cfg)
    if not scores:
        raise UsageError(f"no main task of this config has a constant predictor (supported: {', '.join(SUPPORTED)})")
    tasks = list(scores)
    notes = [HOW]
    left_out = [t for t in resolve_experiment(cfg).tasks if t not in scores]
    if left_out:
        notes.append(f"no constant predictor for {', '.join(left_out)}: left out")
    return RunRecord(
        id=f"{FLOOR_MODEL}-{'+'.join(tasks)}-s{cfg.run.seed}-{cfg.hash()}",
        model=FLOOR_MODEL,
        backbone=cfg.model.backbone,
        dataset=cfg.data.dataset,
        split=cfg.eval.split,
        tasks=tasks,
        config=cfg.model_dump(mode="json"),
        config_hash=cfg.hash(),
        seed=cfg.run.seed,
        metrics=cast(dict[str, dict[str, float | None]], scores),  # read-only here: pydantic copies it
        primary={t: scores[t].get(get_task(t).primary) for t in tasks},
        env=Env.model_validate(environment(torch.device("cpu"))),  # what RunRecord's validation did with the dict
        notes=notes,
    )
