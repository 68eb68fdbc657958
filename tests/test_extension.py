"""Extending mtbench from outside: a toy task, dataset and model, each one definition plus its
registration line in this test module (nothing in mtbench names them), run through ``mtbench run``,
``mtbench table`` and ``mtbench check`` in process."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import tiny_overrides

from mtbench.data.common import MultiTaskDataset
from mtbench.data.spec import Augmentation, DatasetSpec, register_dataset, unregister_dataset
from mtbench.metrics.base import Metric, MetricSpec
from mtbench.registry import model_info, register_model, register_task, unregister_model, unregister_task
from mtbench.reporting.results import load_records
from mtbench.tasks.base import Task


# --- a task: per-pixel brightness (mean of the RGB channels), scored by its mean absolute error ----------
class BrightnessError(Metric):
    """Convention: ``mae`` = mean |prediction - target| over all pixels of the split, lower is better;
    ``within10`` = percent of pixels within 0.1 of the target, higher is better."""

    specs = (MetricSpec("mae", "", False), MetricSpec("within10", "%", True))

    def __init__(self) -> None:
        super().__init__()
        self.add_state("sum_abs", torch.zeros((), dtype=torch.float64))
        self.add_state("close", torch.zeros((), dtype=torch.int64))
        self.add_state("n", torch.zeros((), dtype=torch.int64))

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        target = self._begin_update(pred, target)
        err = (pred.double() - target.double()).abs()
        self.sum_abs += err.sum()
        self.close += (err < 0.1).sum()
        self.n += err.numel()

    def compute(self) -> dict[str, float]:
        n = int(self.n)
        if n == 0:
            return {s.name: float("nan") for s in self.specs}
        return {"mae": float(self.sum_abs) / n, "within10": 100.0 * int(self.close) / n}


class BrightnessTask(Task):
    def out_channels(self, num_classes: int | None = None) -> int:
        return 1

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output - target).abs().mean()

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return output

    def metric_class(self) -> type[Metric]:
        return BrightnessError


# --- a dataset: random colour fields with their brightness and a depth proportional to the red channel ----
class ColourFields(MultiTaskDataset):
    def __init__(self, split: str, tasks: list[str], *, n: int, size: tuple[int, int], seed: int, transform):
        super().__init__(split, tasks, transform, seed)
        self.n, self.size = n, size

    def names(self) -> list[str]:
        return [f"fields_{self.split}_{i}" for i in range(self.n)]

    def load(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.split_code[self.split], index])
        h, w = self.size
        coarse = torch.from_numpy(rng.random((1, 3, 4, 4), dtype=np.float32))
        image = nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]
        out = {"image": image, "brightness": image.mean(0, keepdim=True), "depth": 1.0 + 4.0 * image[:1]}
        return {k: out[k] for k in ["image", *self.tasks]}


def build_fields(spec, root, split, tasks, *, transform=None, train=False, size=None, seed=0, n=None, strict=True):
    return ColourFields(split, tasks, n=n or 8, size=size or spec.train_size, seed=seed, transform=transform)


# --- a model: two conv layers shared, a 1x1 head per task ----------------------------------------------
class TinyNet(nn.Module):
    def __init__(self, out_channels: dict[str, int], width: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU()
        )
        self.heads = nn.ModuleDict({t: nn.Conv2d(width, c, 1) for t, c in out_channels.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.trunk(x)
        return {t: head(f) for t, head in self.heads.items()}


def tiny_net(*, tasks, aux_tasks, out_channels, backbone="hrnet18", pretrained=None, width: int = 8) -> TinyNet:
    """A two-layer CNN with one 1x1 head per task (test-only)."""
    return TinyNet({t: out_channels[t] for t in tasks}, width)


@pytest.fixture
def toy_extension():
    """Register the toy task, dataset and model as a plug-in would (one line each), then remove them."""
    task = register_task(BrightnessTask(name="brightness", primary="mae", description="brightness (MAE)"))
    spec = register_dataset(
        DatasetSpec(
            name="colour_fields",
            tasks=("brightness", "depth"),
            builder=build_fields,
            augmentation=Augmentation("crop", scales=(1.0, 1.0)),
            default_tasks=("brightness", "depth"),
            train_size=(32, 32),
            embedded=True,
            renders_at_run_size=True,
            description="toy colour fields",
        )
    )
    register_model("tiny_net", aux_tasks=False)(tiny_net)
    try:
        yield task, spec
    finally:
        unregister_model("tiny_net")
        unregister_dataset("colour_fields")
        unregister_task("brightness")


def _cli(capsys, *argv: str) -> tuple[int, str]:
    from mtbench.cli import main

    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_toy_model_dataset_and_task_run_table_and_check(toy_extension, tmp_path, capsys):
    task, spec = toy_extension
    assert model_info("tiny_net").aux_tasks is False and task.primary_spec == MetricSpec("mae", "", False)
    sets = tiny_overrides(tmp_path, **{"data.train_size": "[32,32]", "train.lr": "0.01"})
    for model in ("tiny_net", "single_task"):
        argv = [
            "run",
            "--model",
            model,
            "--dataset",
            "colour_fields",
            "--tasks",
            "brightness,depth",
            "--aux-tasks",
            "none",
            "--backbone",
            "resnet18",
            *sum((["--set", s] for s in sets), []),
        ]
        code, out = _cli(capsys, *argv)
        assert code == 0, out
    records = load_records(tmp_path / "results")
    assert sorted((r.model, tuple(r.tasks)) for r in records) == [
        ("single_task", ("brightness",)),
        ("single_task", ("depth",)),
        ("tiny_net", ("brightness", "depth")),
    ]
    toy = next(r for r in records if r.model == "tiny_net")
    assert toy.dataset == "colour_fields" and toy.status == "complete"
    assert set(toy.metrics["brightness"]) == {"mae", "within10"}
    assert toy.primary["brightness"] == toy.metrics["brightness"]["mae"] and 0 <= toy.primary["brightness"] < 1
    assert toy.protocol["depth_eval"]  # the depth task's own protocol entry, from its descriptor

    # table: the toy row with its primary metrics and a Δm against the two single-task records
    code, out = _cli(capsys, "table", "--results", str(tmp_path / "results"), "--format", "json")
    assert code == 0
    table = json.loads(out)
    assert [c["name"] for c in table["columns"][:3]] == ["brightness mae ↓", "depth rmse (m) ↓", "Δm (%) ↑"]
    row = next(r for r in table["rows"] if r["Model"] == "tiny_net")
    assert row["Dataset"] == "colour_fields" and row["brightness mae ↓"] == pytest.approx(toy.primary["brightness"])
    st = {r.tasks[0]: r.primary[r.tasks[0]] for r in records if r.model == "single_task"}
    expect = -50.0 * sum((toy.primary[t] - st[t]) / st[t] for t in ("brightness", "depth"))  # both lower-better
    assert row["Δm (%) ↑"] == pytest.approx(expect, abs=1e-6)

    # check: the records against copies of themselves pass; against a reference where the toy model's mae
    # was half as large (lower is better, read from the toy metric's spec), the toy record regressed
    ref = tmp_path / "reference"
    ref.mkdir()
    for r in records:
        (ref / f"{r.id}.json").write_text(r.model_dump_json())
    code, out = _cli(capsys, "check", "--reference", str(ref), "--results", str(tmp_path / "results"))
    assert code == 0, out
    data = json.loads(toy.model_dump_json())
    data["metrics"]["brightness"]["mae"] *= 0.5
    (ref / f"{toy.id}.json").write_text(json.dumps(data))
    code, out = _cli(capsys, "check", "--reference", str(ref), "--results", str(tmp_path / "results"))
    assert code == 1 and "1 regression(s)" in out
    assert next(ln for ln in out.splitlines() if ln.startswith("tiny_net") and " mae " in ln).split()[-1] == "REGRESSED"
