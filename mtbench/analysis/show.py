"""``mtbench show``: run saved checkpoints (on CPU) over validation images and collect, per image, the ground
truth, each run's prediction and that image's own primary metric; ``mtbench.reporting.show`` draws them.

Predictions are post-processed as ``mtbench.engine.evaluate`` does: ``Task.predict`` on the output (resized
to the target first when the batch carries no original size), then resized to the image's original size
(``resize_prediction``) and compared with the target cut to that size. A per-image metric is the task's
metric (``make_metrics``: dataset options under the run's ``eval.options``) fed that one image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mtbench.analysis.runs import run_folder
from mtbench.errors import MtbenchError, UsageError
from mtbench.reporting.show import ShowData, ShowRow, ShowTask, grid_path, show_plot

DEFAULT_N = 8


@dataclass
class LoadedRun:
    """A run folder loaded for ``show``: its config, experiment, model (eval mode, CPU), evaluation dataset."""

    path: Path
    label: str
    cfg: Any
    exp: Any
    model: torch.nn.Module
    dataset: Any


def load_runs(sources: list[str | Path], split: str = "val", trust: bool = False) -> list[LoadedRun]:
    """Load every run and its ``split``; they must share dataset, main tasks and number of images, else a
    one-line error naming the first run that differs."""
    from mtbench.engine.run import build_data, load_run
    from mtbench.safeload import trust_scope

    if not sources:
        raise UsageError("show: name at least one run folder")
    runs: list[LoadedRun] = []
    for s in sources:
        path = run_folder(s)
        cfg, exp, model, _, _ = load_run(path, trust)
        model.eval()
        with trust_scope(trust):
            dataset = build_data(cfg, exp, split)
        runs.append(LoadedRun(path, cfg.model.name, cfg, exp, model, dataset))
    first = runs[0]
    for r in runs[1:]:
        for what, a, b in (
            ("dataset", first.cfg.data.dataset, r.cfg.data.dataset),
            ("tasks", ",".join(first.exp.tasks), ",".join(r.exp.tasks)),
            (f"number of {split} images", len(first.dataset), len(r.dataset)),
        ):
            if a != b:
                raise MtbenchError(f"show: run {r.path} has {what} {b}, run {first.path} has {a}: runs must share them")
    labels = [r.label for r in runs]
    for r in runs:  # the same model twice: tell the columns apart by the run folder's name
        if labels.count(r.label) > 1:
            r.label = f"{r.label} {r.path.name[-8:]}"
    return runs


def image_metric(task: str, pred: torch.Tensor, target: torch.Tensor, spec: Any, options: Any = None) -> float:
    """The task's primary metric on one image (``pred``: ``Task.predict`` output at the target's size,
    batch of one), built as ``evaluate.make_metrics`` builds it; NaN when the image has no valid pixel."""
    import logging

    from mtbench.engine.evaluate import make_metrics
    from mtbench.registry import get_task

    metric = make_metrics([task], spec, options)[task]
    metric.update(pred, target)
    logger = logging.getLogger("mtbench")
    level = logger.level
    logger.setLevel(logging.ERROR)  # an image without valid pixels: NaN, without a warning per image
    try:
        return float(metric.compute()[get_task(task).primary])
    finally:
        logger.setLevel(level)


def predict_sample(
    model: torch.nn.Module,
    tasks: list[str],
    sample: dict[str, Any],
    device: torch.device | None = None,
    amp: str = "none",
    channels_last: bool = False,
) -> tuple[dict[str, torch.Tensor], tuple[int, int]]:
    """Each of ``tasks``' prediction for one dataset sample (a batch of one, on CPU) at the image's original
    size, post-processed as ``evaluate`` does, and that size. ``model`` is on ``device`` (default CPU) and in
    the mode the caller chose; ``amp`` / ``channels_last`` as the evaluation's."""
    from mtbench.engine.evaluate import autocast, resize_prediction, to_device
    from mtbench.registry import get_task

    device = device or torch.device("cpu")
    h, w = (int(v) for v in sample["meta"]["size"])
    image = to_device({"image": sample["image"].unsqueeze(0)}, device, channels_last)["image"]
    with torch.no_grad(), autocast(device, amp):
        out = model(image)
    preds = {}
    for t in tasks:  # samples carry their original size: evaluate's resize after predict
        pred = resize_prediction(get_task(t).predict(out[t].float()), (h, w), get_task(t).unit_vector)
        preds[t] = pred.cpu()
    return preds, (h, w)


def _predict_one(run: LoadedRun, index: int) -> tuple[dict[str, Any], dict[str, torch.Tensor], tuple[int, int]]:
    """One image of ``run``'s dataset: the sample, each main task's prediction at the image's original size
    (post-processed as ``evaluate`` does) and that size."""
    sample = run.dataset[index]
    preds, size = predict_sample(run.model, run.exp.tasks, sample)
    return sample, preds, size


def sample_target(sample: dict[str, Any], task: str, size: tuple[int, int]) -> torch.Tensor:
    """The task's target of one sample cut to the image's original size, as a batch of one."""
    h, w = size
    return sample[task][..., :h, :w].unsqueeze(0)


def per_image_metrics(run: LoadedRun, task: str, indices: list[int] | None = None) -> list[float]:
    """``run``'s per-image primary metric of ``task`` on ``indices`` (default: every image of its split)."""
    if task not in run.exp.tasks:
        raise UsageError(f"--worst {task}: not a main task of run {run.path} ({', '.join(run.exp.tasks)})")
    out = []
    for i in range(len(run.dataset)) if indices is None else indices:
        sample, preds, size = _predict_one(run, i)
        out.append(
            image_metric(task, preds[task], sample_target(sample, task, size), run.exp.spec, run.cfg.eval.options)
        )
    return out


def worst_indices(values: list[float], n: int, higher_is_better: bool) -> list[int]:
    """The ``n`` indices of the worst values, worst first (ascending when higher is better); NaN last; ties
    by index."""
    order = sorted(
        range(len(values)),
        key=lambda i: (math.isnan(values[i]), (values[i] if higher_is_better else -values[i]), i),
    )
    return order[:n]


def image_rgb(sample: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    """The model's (normalised) input image as RGB H×W×3 in [0, 1] at the image's original size."""
    from mtbench.data.common import MEAN, STD

    img = sample["image"] * STD + MEAN
    if tuple(img.shape[-2:]) != size:
        img = F.interpolate(img.unsqueeze(0), size=size, mode="bilinear", align_corners=False)[0]
    return img.clamp(0, 1).permute(1, 2, 0).numpy()


def class_names(dataset: Any, task: str) -> list[str]:
    """Class names of a label task where the dataset module has them (``classes`` for semseg, ``parts``
    for human_parts), else none."""
    names = getattr(dataset, {"semseg": "classes", "human_parts": "parts"}.get(task, ""), None)
    return [str(n) for n in names] if isinstance(names, (list, tuple)) else []


def collect(runs: list[LoadedRun], split: str, n: int = DEFAULT_N, worst: str | None = None) -> ShowData:
    """Rows of ``n`` images of the runs' split: the first ``n``, or with ``worst`` the ``n`` where the first
    run's per-image primary metric of that task is worst (worst first)."""
    from mtbench.registry import get_task

    first = runs[0]
    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    note = ""
    if worst is not None:
        values = per_image_metrics(first, worst)
        spec = get_task(worst).primary_spec
        indices = worst_indices(values, n, spec.higher_is_better)
        note = f"the {len(indices)} worst images by {first.label}'s {worst} {get_task(worst).primary}"
    else:
        indices = list(range(min(n, len(first.dataset))))
    tasks = list(first.exp.tasks)
    rows = []
    for idx in indices:
        per_run = [_predict_one(r, idx) for r in runs]
        sample, _, size = per_run[0]
        for r, (s, _, sz) in zip(runs[1:], per_run[1:]):
            same = s["meta"]["name"] == sample["meta"]["name"] and sz == size
            if same and first.exp.spec.renders_at_run_size and s["image"].shape == sample["image"].shape:
                same = bool(torch.allclose(s["image"], sample["image"], atol=1e-5))
            if not same:
                raise MtbenchError(
                    f"show: run {r.path} sees another {split} image {idx} than run {first.path} "
                    "(different data settings, e.g. data.seed or data.n_val): runs must share their images"
                )
        row_tasks = {}
        for t in tasks:
            target = sample_target(sample, t, size)
            preds = [p[t] for _, p, _ in per_run]
            values = [
                image_metric(t, p, target, r.exp.spec, r.cfg.eval.options) for r, p in zip(runs, preds, strict=True)
            ]
            row_tasks[t] = ShowTask(target[0].numpy(), [p[0].numpy() for p in preds], values)
        rows.append(ShowRow(str(sample["meta"]["name"]), idx, image_rgb(sample, size), row_tasks))
    spec_task = {t: get_task(t) for t in tasks}
    return ShowData(
        dataset=first.cfg.data.dataset,
        split=split,
        runs=[r.label for r in runs],
        tasks=tasks,
        primary={t: spec_task[t].primary for t in tasks},
        units={t: spec_task[t].primary_spec.unit for t in tasks},
        rows=rows,
        class_names={t: class_names(first.dataset, t) for t in tasks if class_names(first.dataset, t)},
        note=note,
    )


def show(
    sources: list[str | Path],
    out: str | Path,
    *,
    n: int = DEFAULT_N,
    split: str = "val",
    worst: str | None = None,
    trust: bool = False,
) -> Path:
    """``mtbench show``: load the runs, collect the rows, write the PNG atomically; returns its path."""
    runs = load_runs(sources, split, trust)
    data = collect(runs, split, n=n, worst=worst)
    return Path(show_plot(data, dict(runs[0].exp.spec.num_classes), out))


def attached_grid(record_json: str | Path) -> Path:
    """Where ``mtbench show RECORD --attach`` puts the grid of a record JSON: beside it, ``<stem>.show.png``
    (``mtbench leaderboard --site`` shows it on the run's page)."""
    p = Path(record_json)
    if p.suffix != ".json" or not p.is_file():
        raise UsageError(
            f"{p}: --attach needs the run's record JSON (results/<dataset>/<model>/<id>.json), "
            "beside which the grid is saved"
        )
    return grid_path(p)
