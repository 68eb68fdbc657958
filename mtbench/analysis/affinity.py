"""``mtbench affinity``: how similar the task-specific features of a multi-task model are, scale by scale.

Features are read with forward hooks on named submodules (the models' forward is unchanged):

* ``initial``: the input of every :class:`~mtbench.nn.MultiTaskDistillation` module, the task features before
  multi-modal distillation (MTI-Net: the initial task features at each of its four scales; PAD-Net: at 1/4);
  main and auxiliary tasks.
* ``distilled``: the output of those modules, the main tasks' features after distillation.
* ``head``: the input of the last ``Conv2d`` of each task head (``model.heads[task]``), the task's features
  just before its classifier (mtl: the head's fused multi-scale features; the head's own input there is the
  shared backbone output, identical for every task).

Layout: spatial positions are the samples. Each image contributes at most ``positions`` positions of each
feature map (all of them when the map is smaller), drawn uniformly without replacement with a seed fixed by
the image's index; every task of one feature map uses the same positions, so the rows of the task matrices
are the same (image, position) samples. Samples: the first ``images`` images of the run's evaluation split,
one at a time, in evaluation mode. The scale of a map is the input size over its size (1/4 ... 1/32).
Similarity: linear CKA (:mod:`mtbench.analysis.cka`) between every pair of tasks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from mtbench.analysis.cka import cka_matrix
from mtbench.analysis.runs import run_folder
from mtbench.errors import MtbenchError, UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STAGES = ("initial", "distilled", "head")
FEW_SAMPLES = "no more samples than channels: linear CKA is biased towards 1 here (use more --images)"
POSITIONS = 256
LAYOUT = (
    "spatial positions as samples: at most {k} positions per image and feature map (all when fewer), "
    "uniform without replacement, seeded by the image index, the same positions for every task"
)


@dataclass
class Entry:
    """One feature map's task × task CKA matrix: ``stage`` (initial, distilled, head) at ``stride`` (1/stride)."""

    stage: str
    stride: int
    tasks: list[str]
    cka: list[list[float]]
    samples: int
    channels: dict[str, int]

    @property
    def few_samples(self) -> bool:
        return self.samples <= max(self.channels.values())

    @property
    def scale(self) -> str:
        return f"1/{self.stride}"

    @property
    def key(self) -> str:
        return f"{self.stage} {self.scale}"


@dataclass
class Affinity:
    """The result of :func:`affinity`: entries ordered by stage, then coarse to fine."""

    run_id: str
    run_dir: Path
    model: str
    backbone: str
    dataset: str
    checkpoint: str
    split: str
    images: list[int]
    positions: int
    entries: list[Entry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 6)

        return {
            "run": self.run_id,
            "model": self.model,
            "backbone": self.backbone,
            "dataset": self.dataset,
            "checkpoint": self.checkpoint,
            "split": self.split,
            "images": self.images,
            "features": LAYOUT.format(k=self.positions),
            "positions_per_image": self.positions,
            "similarity": "linear CKA (Kornblith et al. 2019)",
            "scales": {
                e.key: {
                    "stage": e.stage,
                    "scale": e.scale,
                    "tasks": e.tasks,
                    "cka": [[num(v) for v in row] for row in e.cka],
                    "samples": e.samples,
                    "channels": e.channels,
                    **({"note": FEW_SAMPLES} if e.few_samples else {}),
                }
                for e in self.entries
            },
        }

    def change_lines(self) -> list[str]:
        """Per stage and task pair, CKA from the coarsest scale to the finest, e.g.
        'initial semseg–depth: 0.41 (1/32) → 0.63 (1/4)'."""
        lines = []
        for stage in STAGES:
            entries = [e for e in self.entries if e.stage == stage]
            if not entries:
                continue
            tasks = entries[0].tasks
            for i, a in enumerate(tasks):
                for b in tasks[i + 1 :]:
                    vals = [
                        f"{_fmt(e.cka[e.tasks.index(a)][e.tasks.index(b)])} ({e.scale})"
                        for e in entries
                        if a in e.tasks and b in e.tasks
                    ]
                    lines.append(f"{stage} {a}–{b}: " + " → ".join(vals))
        few = [e.key for e in self.entries if e.few_samples]
        if few:
            lines.append(f"note: {', '.join(few)}: {FEW_SAMPLES}")
        return lines


def _fmt(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.2f}"


def _last_conv(module: nn.Module) -> nn.Module | None:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def _register_taps(model: nn.Module, store: dict[tuple[str, str], dict[str, torch.Tensor]]) -> list[Any]:
    """Forward hooks writing ``store[(stage, module name)][task] = feature map``; returns their handles."""
    from mtbench.nn import MultiTaskDistillation

    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, MultiTaskDistillation):

            def tap(m: nn.Module, args: tuple, out: Any, name: str = name) -> None:
                store[("initial", name)] = {t: f.detach() for t, f in args[0].items()}
                store[("distilled", name)] = {t: f.detach() for t, f in out.items()}

            handles.append(mod.register_forward_hook(tap))
    heads = getattr(model, "heads", None)
    if isinstance(heads, nn.ModuleDict):
        for task, head in heads.items():
            conv = _last_conv(head)
            if conv is None:
                continue

            def tap_head(m: nn.Module, args: tuple, out: Any, task: str = task) -> None:
                store.setdefault(("head", "heads"), {})[task] = args[0].detach()

            handles.append(conv.register_forward_hook(tap_head))
    return handles


def _sample(feat: torch.Tensor, k: int, image: int) -> torch.Tensor:
    """``feat`` (1×C×h×w) -> (min(k, h·w))×C rows at positions fixed by ``image`` and h×w."""
    c, h, w = feat.shape[1:]
    flat = feat[0].reshape(c, h * w)
    if h * w > k:
        idx = torch.randperm(h * w, generator=torch.Generator().manual_seed(image))[:k]
        flat = flat[:, idx.to(flat.device)]
    return flat.T.to("cpu", torch.float64)


def _select(entries: list[Entry], scales: str | None) -> list[Entry]:
    """``scales``: 'all' (or None), or comma-separated scales (1/4), stages (distilled) or keys (initial 1/4)."""
    if scales is None or scales.strip() == "all":
        return entries
    wanted = [s.strip() for s in scales.split(",") if s.strip()]
    names = {e.scale for e in entries} | {e.stage for e in entries} | {e.key for e in entries}
    bad = [s for s in wanted if s not in names]
    if bad or not wanted:
        raise UsageError(f"--scales {scales}: this model has {', '.join(e.key for e in entries)} (or 'all')")
    return [e for e in entries if {e.scale, e.stage, e.key} & set(wanted)]


def affinity(
    run: Path | str,
    images: int = 16,
    scales: str | None = "all",
    positions: int = POSITIONS,
    device: str = "cpu",
    trust: bool = False,
) -> Affinity:
    """Task × task linear CKA of a run's task features at every stage and scale (see the module docstring)."""
    from torch.utils.data import DataLoader, Subset

    from mtbench.engine.run import build_data, load_run
    from mtbench.engine.runtime import resolve_device, set_cpu_threads

    if images < 1:
        raise UsageError(f"--images {images}: at least 1")
    if positions < 1:
        raise UsageError(f"--positions {positions}: at least 1")
    run_dir = run_folder(run)
    cfg, exp, model, _, which = load_run(run_dir, trust)
    tasks = list(getattr(model, "tasks", exp.tasks))
    if len(tasks) < 2:
        raise MtbenchError(
            f"affinity: run '{run_dir.name}' is a one-task model ({cfg.model.name}: {', '.join(tasks)}); task "
            "affinity compares the features of two or more tasks"
        )
    store: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    handles = _register_taps(model, store)
    if not handles:
        raise MtbenchError(
            f"affinity: model '{cfg.model.name}' has no per-task features to compare (no multi-task distillation "
            "modules, no per-task heads in model.heads)"
        )
    dev = resolve_device(device)
    set_cpu_threads()
    model.to(dev).eval()
    data = build_data(cfg, exp, cfg.eval.split)
    n = min(images, len(data))
    rows: dict[tuple[str, str], dict[str, list[torch.Tensor]]] = {}
    strides: dict[tuple[str, str], int] = {}
    try:
        with torch.no_grad():
            for i, batch in enumerate(DataLoader(Subset(data, range(n)), batch_size=1, num_workers=0)):
                x = batch["image"].to(dev)
                store.clear()
                model(x)
                for key, feats in store.items():
                    some = next(iter(feats.values()))
                    strides[key] = max(1, round(x.shape[-2] / some.shape[-2]))
                    for t, f in feats.items():
                        rows.setdefault(key, {}).setdefault(t, []).append(_sample(f, positions, i))
    finally:
        for h in handles:
            h.remove()
    entries = []
    for key, per_task in rows.items():
        names = [t for t in tasks + list(exp.aux_tasks) if t in per_task]
        if len(names) < 2:
            continue
        mats = [torch.cat(per_task[t]) for t in names]
        entries.append(
            Entry(
                key[0],
                strides[key],
                names,
                cka_matrix(mats),
                int(mats[0].shape[0]),
                {t: int(m.shape[1]) for t, m in zip(names, mats)},
            )
        )
    entries.sort(key=lambda e: (STAGES.index(e.stage), -e.stride))
    if not entries:
        raise MtbenchError(f"affinity: model '{cfg.model.name}' has no feature map shared by two or more tasks")
    return Affinity(
        run_id=run_dir.name,
        run_dir=run_dir,
        model=cfg.model.name,
        backbone=cfg.model.backbone,
        dataset=cfg.data.dataset,
        checkpoint=which,
        split=cfg.eval.split,
        images=list(range(n)),
        positions=positions,
        entries=_select(entries, scales),
    )


def affinity_figure(result: Affinity) -> Figure:
    """One heatmap per entry (a row per stage, coarse to fine), values annotated, one colour scale 0–1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in STAGES if any(e.stage == s for e in result.entries)]
    cols = max(sum(e.stage == s for e in result.entries) for s in stages)
    size = max(len(e.tasks) for e in result.entries)
    cell = 0.6 + 0.55 * size
    fig, axes = plt.subplots(len(stages), cols, figsize=(cell * cols + 1.2, cell * len(stages) + 0.8), squeeze=False)
    used, image = [], None
    for r, stage in enumerate(stages):
        row = [e for e in result.entries if e.stage == stage]
        for c in range(cols):
            ax = axes[r][c]
            if c >= len(row):
                ax.remove()
                continue
            e = row[c]
            m = torch.tensor(e.cka, dtype=torch.float64).numpy()
            image = ax.imshow(m, vmin=0.0, vmax=1.0, cmap="viridis")
            for i in range(len(e.tasks)):
                for j in range(len(e.tasks)):
                    v = e.cka[i][j]
                    color = "white" if math.isnan(v) or v < 0.5 else "black"
                    ax.text(j, i, _fmt(v), ha="center", va="center", fontsize=8, color=color)
            ax.set_xticks(range(len(e.tasks)), e.tasks, rotation=45, ha="right", fontsize=8)
            ax.set_yticks(range(len(e.tasks)), e.tasks if c == 0 else [], fontsize=8)  # a stage's row: same tasks
            ax.set_title(e.key, fontsize=9)
            used.append(ax)
    fig.suptitle(f"{result.model} {result.run_id}: linear CKA, {len(result.images)} images", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=used, shrink=0.8, label="linear CKA")
    return fig


def write_affinity(result: Affinity, out: Path | str) -> list[Path]:
    """Write ``affinity.json`` and ``affinity.png`` into the folder ``out``; returns their paths."""
    from mtbench.reporting.plots import save_figure
    from mtbench.reporting.results import atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js = out / "affinity.json"
    atomic_write_text(js, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    return [js, save_figure(affinity_figure(result), out / "affinity.png")]
