"""Per-image statistics and the seeded bootstrap over images: sums reproduce the full set, replicates equal the
metric on the resampled images, the resampling is fixed by (N, B, seed), records carry the replicates."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable

import numpy as np
import pytest
import torch
from conftest import tiny_overrides
from pydantic import ValidationError
from torch.utils.data import DataLoader

from mtbench.cli import main
from mtbench.data import build_dataset
from mtbench.data.spec import get_dataset_spec
from mtbench.engine.evaluate import evaluate
from mtbench.metrics.base import Metric, MetricSpec
from mtbench.metrics.bootstrap import (
    BootstrapUnavailable,
    PerImageRecorder,
    bootstrap_metric,
    bootstrap_replicates,
    resample_indices,
    round_significant,
)
from mtbench.metrics.boundary import BoundaryMetric
from mtbench.metrics.depth import DepthMetric
from mtbench.metrics.normals import NormalsMetric
from mtbench.metrics.saliency import SaliencyMetric
from mtbench.metrics.segmentation import MeanIoU
from mtbench.reporting.results import MAX_REPLICATES, Bootstrap, RunRecord, load_record, load_records, save_record

N_IMAGES = 6
SHAPE = (11, 13)


def _seg(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.randint(0, 4, (N_IMAGES, *SHAPE), generator=g)
    target[torch.rand(target.shape, generator=g) < 0.1] = 255
    pred = torch.randint(0, 5, target.shape, generator=g)
    keep = torch.rand(target.shape, generator=g) < 0.6
    pred[keep & (target != 255)] = target[keep & (target != 255)]
    return pred, target


def _depth(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = 0.5 + 9.5 * torch.rand((N_IMAGES, 1, *SHAPE), generator=g)
    target[torch.rand(target.shape, generator=g) < 0.15] = 0.0
    pred = target * torch.exp(0.3 * torch.randn(target.shape, generator=g))
    pred[torch.rand(target.shape, generator=g) < 0.03] = -0.5
    return pred, target


def _normals(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.nn.functional.normalize(torch.randn((N_IMAGES, 3, *SHAPE), generator=g), dim=1)
    target = target * (torch.rand((N_IMAGES, 1, *SHAPE), generator=g) > 0.1)
    return target + 0.6 * torch.randn(target.shape, generator=g), target


def _saliency(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = (torch.rand((N_IMAGES, 1, *SHAPE), generator=g) < 0.4).float()
    pred = (0.5 * target + 0.7 * torch.rand(target.shape, generator=g)).clamp(0, 1)
    target[torch.rand(target.shape, generator=g) < 0.1] = 255.0
    target[2] = 255.0  # no valid pixel: skipped by the metric, a zero row of the statistics
    return pred, target


def _edge(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.zeros((N_IMAGES, 1, *SHAPE))
    for i in range(N_IMAGES):
        target[i, 0, 2 + i % 3, 1:-1] = 1.0  # a horizontal boundary
        target[i, 0, 1:-1, 3 + i % 4] = 1.0  # and a vertical one
    pred = (0.6 * target + 0.5 * torch.rand(target.shape, generator=g)).clamp(0, 1)
    return pred, target


# (make metric, data, key, whether every state is an integer count: then the sums are exact)
CASES: dict[str, tuple[Callable[[], Metric], Callable, str, bool]] = {
    "semseg": (lambda: MeanIoU(5), _seg, "mIoU", True),
    "depth": (DepthMetric, _depth, "rmse", False),
    "normals": (NormalsMetric, _normals, "mean", False),
    "normals_median": (NormalsMetric, _normals, "median", False),
    "saliency": (SaliencyMetric, _saliency, "mIoU", False),
    "edge": (lambda: BoundaryMetric(thresholds=9), _edge, "odsF", True),
}


def _data(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    return CASES[name][1](torch.Generator().manual_seed(7))


def _recorded(name: str) -> tuple[Metric, PerImageRecorder]:
    make, _, key, _ = CASES[name]
    pred, target = _data(name)
    rec = PerImageRecorder(make(), key)
    rec.update(pred[:4], target[:4])  # two batches
    rec.update(pred[4:], target[4:])
    return rec.metric, rec


def _on_images(name: str, images: list[int]) -> Metric:
    """The metric computed directly on a list of images (repeats included), one image after another."""
    pred, target = _data(name)
    m = CASES[name][0]()
    for i in images:
        m.update(pred[i : i + 1], target[i : i + 1])
    return m


def _same(a: float, b: float, exact: bool) -> bool:
    return a == b if exact else math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_per_image_statistics_sum_to_the_full_set(name):
    make, _, key, exact = CASES[name]
    pred, target = _data(name)
    batch = make()
    batch.update(pred, target)  # the usual batch update
    metric, rec = _recorded(name)
    stats = rec.stats()
    assert stats.n_images == N_IMAGES  # one row per image, also an image that adds nothing
    full, recorded = batch.compute(), metric.compute()
    # the recorder leaves its metric with the batch update's totals (every value, not only the key's)
    assert recorded.keys() == full.keys()
    assert all(_same(recorded[k], v, exact) or math.isnan(recorded[k]) and math.isnan(v) for k, v in full.items())
    # the summed rows are the state tensors
    total = stats.unflatten(np.asarray(stats.rows.sum(axis=0)).ravel())
    for n in stats.names:
        want = batch.state()[n].to(torch.float64)
        assert torch.equal(total[n], want) if exact else torch.allclose(total[n], want, rtol=1e-12, atol=0)
    # and give back the full-set value
    (summed,) = bootstrap_replicates(stats, batch, key, np.arange(N_IMAGES)[None])
    assert _same(summed, full[key], exact) and math.isfinite(summed)


def test_every_state_is_kept_except_the_normals_histogram_when_the_median_is_not_asked_for():
    assert _recorded("normals")[1].names == ("sum_angle", "sum_sq", "n_within", "count")
    assert "hist" in _recorded("normals_median")[1].names
    assert _recorded("semseg")[1].names == ("confusion",)
    # a replicate without the histogram reports no median, and its other values
    metric, rec = _recorded("normals")
    stats = rec.stats()
    fresh = metric.empty_copy().load_state(stats.unflatten(np.asarray(stats.rows.sum(axis=0)).ravel()))
    assert math.isnan(fresh.compute()["median"]) and fresh.compute()["mean"] == pytest.approx(metric.compute()["mean"])


def test_resample_indices_depend_only_on_n_b_and_seed():
    a = resample_indices(7, 5, 3)
    assert a.shape == (5, 7) and a.dtype == np.int64 and a.min() >= 0 and a.max() < 7
    assert np.array_equal(a, resample_indices(7, 5, 3))
    assert np.array_equal(a, np.random.default_rng(3).integers(0, 7, size=(5, 7)))
    assert not np.array_equal(a, resample_indices(7, 5, 4))
    assert np.array_equal(resample_indices(7, 2, 3), a[:2])  # more replicates extend, never reshuffle
    assert np.array_equal(resample_indices(1, 3, 0), np.zeros((3, 1), np.int64))  # one image: always drawn
    # numpy's PCG64 stream for seed 0, pinned: a numpy that changed it would change every record's resamples
    assert resample_indices(4, 2, 0).tolist() == [[3, 2, 2, 1], [1, 0, 0, 0]]
    with pytest.raises(ValueError):
        resample_indices(0, 2, 0)
    with pytest.raises(ValueError):
        resample_indices(3, 2, -1)


def test_replicates_of_a_hand_made_segmentation():
    """2 classes, three 1×2 images. img0: target 0 0, pred 0 0; img1: target 1 1, pred 1 0; img2: target 0 1,
    pred 1 1. Resample [0, 0, 1]: confusion [[4, 0], [1, 1]], IoU 4/5 and 1/2, mIoU 65. [2, 2, 2]: [[0, 3], [0, 3]],
    IoU 0 and 3/6: 25. [1, 2, 0] (the full set): [[2, 1], [1, 2]], IoU 2/4 and 2/4: 50."""
    target = torch.tensor([[[0, 0]], [[1, 1]], [[0, 1]]])
    pred = torch.tensor([[[0, 0]], [[1, 0]], [[1, 1]]])
    rec = PerImageRecorder(MeanIoU(2), "mIoU")
    rec.update(pred, target)
    indices = np.array([[0, 0, 1], [2, 2, 2], [1, 2, 0]])
    assert bootstrap_replicates(rec.stats(), rec.metric, "mIoU", indices) == [65.0, 25.0, 50.0]
    direct = MeanIoU(2)
    direct.update(pred[[0, 0, 1]], target[[0, 0, 1]])
    assert direct.compute()["mIoU"] == 65.0 and rec.metric.compute()["mIoU"] == 50.0


def test_replicates_of_a_hand_made_depth():
    """Images of different sizes. img0: target 2, pred 1 (squared error 1); img1: targets 1 1, preds 1 3
    (0 and 4). Resample [0, 0, 1]: sqrt((1 + 1 + 0 + 4) / 4); [1, 1, 1]: sqrt(12 / 6)."""
    images = [
        (torch.tensor([[[[1.0]]]]), torch.tensor([[[[2.0]]]])),
        (torch.tensor([[[[1.0, 3.0]]]]), torch.ones(1, 1, 1, 2)),
    ]
    rec = PerImageRecorder(DepthMetric(), "rmse")
    for p, t in images:
        rec.update(p, t)
    reps = bootstrap_replicates(rec.stats(), rec.metric, "rmse", np.array([[0, 0, 1], [1, 1, 1]]))
    assert reps == pytest.approx([math.sqrt(1.5), math.sqrt(2.0)], rel=1e-15)


@pytest.mark.parametrize("name", list(CASES))
def test_a_replicate_is_the_metric_on_the_resampled_images(name):
    _, _, key, exact = CASES[name]
    metric, rec = _recorded(name)
    indices = resample_indices(N_IMAGES, 4, 11)
    reps = bootstrap_replicates(rec.stats(), metric, key, indices)
    assert len(reps) == 4
    for row, value in zip(indices.tolist(), reps):
        direct = _on_images(name, row).compute()[key]
        assert _same(value, direct, exact), (row, value, direct)


class _MaxError(Metric):
    """Breaks the additive convention (its state is a maximum), without saying so."""

    specs = (MetricSpec("max", "", False),)

    def __init__(self) -> None:
        super().__init__()
        self.add_state("worst", torch.zeros((), dtype=torch.float64))

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.worst = torch.maximum(self.worst, (pred - target).abs().max().to(torch.float64))

    def merge(self, other: Metric) -> Metric:
        self.worst = torch.maximum(self.worst, other.state()["worst"])
        return self

    def compute(self) -> dict[str, float]:
        return {"max": float(self.worst)}


class _Declared(_MaxError):
    bootstrappable = False


def test_metrics_that_cannot_be_bootstrapped_say_so():
    with pytest.raises(BootstrapUnavailable, match="not bootstrappable"):
        PerImageRecorder(_Declared(), "max")
    rec = PerImageRecorder(_MaxError(), "max")
    rec.update(torch.tensor([[1.0], [3.0]]), torch.zeros(2, 1))
    with pytest.raises(BootstrapUnavailable, match="summed per-image statistics give max 4.0, not the full-set 3.0"):
        bootstrap_metric(rec.stats(), rec.metric, "max", n_boot=5)
    rec = PerImageRecorder(MeanIoU(5), "mIoU", max_bytes=100)  # too large to keep: the metric is still updated
    rec.update(*_data("semseg"))
    assert rec.unavailable == "per-image statistics exceed 0 MiB" and rec.metric.compute()["mIoU"] > 0
    with pytest.raises(BootstrapUnavailable, match="exceed"):
        rec.stats()


def test_bootstrap_metric_checks_the_full_set_and_rounds():
    metric, rec = _recorded("depth")
    b = bootstrap_metric(rec.stats(), metric, "rmse", n_boot=50, seed=2)
    assert (b.metric, b.n_images, b.seed, len(b.replicates)) == ("rmse", N_IMAGES, 2, 50)
    raw = bootstrap_replicates(rec.stats(), metric, "rmse", resample_indices(N_IMAGES, 50, 2))
    assert b.replicates == [round_significant(v) for v in raw]
    assert round_significant(12.345678901) == 12.3457 and round_significant(0.000123456789) == 0.000123457


def _tiny_model(tasks: list[str], channels: list[int]) -> torch.nn.Module:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, sum(channels), 1)
            g = torch.Generator().manual_seed(0)
            with torch.no_grad():
                self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))

        def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
            return dict(zip(tasks, self.conv(image).split(channels, dim=1)))

    return Net()


def test_evaluate_bootstraps_each_primary_metric_unless_distributed():
    tasks = ["semseg", "depth", "saliency"]
    spec = get_dataset_spec("synthetic")
    val = build_dataset("synthetic", "val", tasks=tasks, train=False, size=(32, 32), n=5, seed=0)
    model = _tiny_model(tasks, [spec.out_channels(tasks)[t] for t in tasks])
    loader = DataLoader(val, batch_size=2)
    cpu = torch.device("cpu")
    plain = evaluate(model, loader, tasks, spec, cpu)
    boot = evaluate(model, loader, tasks, spec, cpu, bootstrap=20, bootstrap_seed=1)
    assert plain.bootstrap == {} and plain.no_bootstrap == {}
    assert all(boot.metrics[t] == pytest.approx(plain.metrics[t], rel=1e-12) for t in tasks)
    assert not boot.no_bootstrap
    for t, key in (("semseg", "mIoU"), ("depth", "rmse"), ("saliency", "mIoU")):
        b = boot.bootstrap[t]
        assert (b.metric, b.n_images, b.seed, len(b.replicates)) == (key, 5, 1, 20)
    dist = evaluate(model, loader, tasks, spec, cpu, distributed=True, bootstrap=20)
    assert dist.bootstrap == {} and set(dist.no_bootstrap) == set(tasks)
    assert "semseg: no bootstrap (distributed evaluation: per-image statistics are kept on one process only)" in (
        dist.notes()
    )


def _record(**extra) -> RunRecord:
    return RunRecord(id="r1", model="mtl", backbone="hrnet18", dataset="synthetic", tasks=["semseg"], **extra)


def test_record_round_trip_with_bootstrap(tmp_path):
    boot = {"semseg": Bootstrap(metric="mIoU", n_images=3, seed=0, replicates=[65.0, 25.0, 50.0])}
    rec = _record(primary={"semseg": 50.0}, bootstrap=boot)
    loaded = load_record(save_record(rec, tmp_path))
    assert loaded.bootstrap == boot and loaded.model_dump() == rec.model_dump()
    # a record written before the field existed still loads
    data = json.loads(loaded.path.read_text())
    del data["bootstrap"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert load_record(old).bootstrap == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"other": {"metric": "mIoU", "n_images": 3, "seed": 0, "replicates": [1.0]}},  # not a task of the record
        {"semseg": {"metric": "mIoU", "n_images": 3, "seed": 0, "replicates": [float("nan")]}},
        {"semseg": {"metric": "mIoU", "n_images": 0, "seed": 0, "replicates": [1.0]}},
        {"semseg": {"metric": "mIoU", "n_images": 3, "seed": -1, "replicates": [1.0]}},
        {"semseg": {"metric": "mIoU", "n_images": 3, "seed": 0, "replicates": []}},
        {"semseg": {"metric": "mIoU", "n_images": 3, "seed": 0, "replicates": [1.0] * (MAX_REPLICATES + 1)}},
        {"semseg": {"metric": "mIoU", "n_images": 3, "seed": 0, "replicates": [1.0], "extra": 1}},
    ],
)
def test_record_rejects_bad_bootstrap(bad):
    with pytest.raises(ValidationError):
        _record(bootstrap=bad)


def test_tiny_run_and_eval_records_carry_the_bootstrap(tmp_path):
    over = tiny_overrides(tmp_path, **{"data.n_train": 16, "data.n_val": 12, "data.aux_tasks": "[]"})
    main(["run", "--model", "mtl", "--tasks", "semseg,depth", *sum((["--set", s] for s in over), [])])
    (r,) = load_records(tmp_path / "results")
    assert set(r.bootstrap) == {"semseg", "depth"}
    for t, key in (("semseg", "mIoU"), ("depth", "rmse")):
        b = r.bootstrap[t]
        assert (b.metric, b.n_images, b.seed, len(b.replicates)) == (key, 12, 0, 1000)
        mean, sd = statistics.fmean(b.replicates), statistics.stdev(b.replicates)
        assert sd > 0 and abs(mean - r.primary[t]) < 0.5 * sd, (t, mean, sd, r.primary[t])
        low, high = np.percentile(b.replicates, [2.5, 97.5])
        assert low < r.primary[t] < high
    # mtbench eval of the run folder: the same images and seed, so the same replicates
    main(["eval", str(tmp_path / "runs" / r.id), "--results", str(tmp_path / "again")])
    (e,) = load_records(tmp_path / "again")
    assert e.bootstrap == r.bootstrap and e.primary == pytest.approx(r.primary, rel=1e-12)
