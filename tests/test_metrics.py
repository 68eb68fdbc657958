"""Streaming metrics: hand-computed values, an independent NumPy reference, streaming, merge, gloo."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Callable

import numpy as np
import pytest
import torch

from mtbench.metrics.base import Metric, MetricSpec
from mtbench.metrics.depth import DepthMetric
from mtbench.metrics.normals import NormalsMetric
from mtbench.metrics.saliency import THRESHOLDS, SaliencyMetric
from mtbench.metrics.segmentation import MeanIoU
from mtbench.registry import list_tasks

NUM_CLASSES = 6  # class 5 never occurs in target or prediction: an empty union


# ----------------------------------------------------------------------------- random data


def _seg_data(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.randint(0, NUM_CLASSES - 1, (6, 13, 17), generator=g)
    target[torch.rand(target.shape, generator=g) < 0.1] = 255
    pred = torch.randint(0, NUM_CLASSES - 1, target.shape, generator=g)
    keep = torch.rand(target.shape, generator=g) < 0.5  # make predictions half right
    pred[keep & (target != 255)] = target[keep & (target != 255)]
    return pred, target


def _depth_data(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = 0.5 + 9.5 * torch.rand((6, 1, 13, 17), generator=g)
    target[torch.rand(target.shape, generator=g) < 0.15] = 0.0
    target[0, 0, 0, :3] = float("nan")
    target[1, 0, 0, :2] = float("inf")
    pred = target.nan_to_num(3.0, 3.0) * torch.exp(0.3 * torch.randn(target.shape, generator=g))
    pred[torch.rand(target.shape, generator=g) < 0.03] = -0.5  # non-positive predictions
    return pred, target


def _normals_data(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.nn.functional.normalize(torch.randn((6, 3, 13, 17), generator=g), dim=1)
    target = target * (torch.rand((6, 1, 13, 17), generator=g) > 0.1)  # zero vector = invalid
    target[2, :, 0, 0] = float("nan")
    pred = target + 0.6 * torch.randn(target.shape, generator=g)
    pred[3, :, 1, 1] = -target[3, :, 1, 1]  # possibly 180 degrees
    return pred, target


def _saliency_data(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = (torch.rand((6, 1, 13, 17), generator=g) < 0.4).float()
    pred = (0.5 * target + 0.7 * torch.rand(target.shape, generator=g)).clamp(0, 1)
    target[torch.rand(target.shape, generator=g) < 0.1] = 255.0
    target[1] = 0.0  # an image without salient pixels
    target[2] = 255.0  # an image with no valid pixel: skipped
    return pred, target


CASES: dict[str, tuple[Callable[[], Metric], Callable]] = {
    "semseg": (lambda: MeanIoU(NUM_CLASSES, ignore_index=255), _seg_data),
    "depth": (DepthMetric, _depth_data),
    "normals": (NormalsMetric, _normals_data),
    "saliency": (lambda: SaliencyMetric(ignore_index=255), _saliency_data),
}


def _data(name: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return CASES[name][1](torch.Generator().manual_seed(seed))


def _one_shot(name: str) -> dict[str, float]:
    metric = CASES[name][0]()
    metric.update(*_data(name))
    return metric.compute()


def _assert_same(a: dict[str, float], b: dict[str, float], rel: float = 1e-12) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=rel, abs=1e-12, nan_ok=True), k


# ----------------------------------------------------------------------------- NumPy references


def np_miou(pred: np.ndarray, target: np.ndarray, c: int) -> dict[str, float]:
    valid = target != 255
    ious, nonempty = [], []
    for k in range(c):
        tp = np.sum((pred == k) & (target == k) & valid)
        fp = np.sum((pred == k) & (target != k) & valid)
        fn = np.sum((pred != k) & (target == k) & valid)
        ious.append(tp / (tp + fp + fn) if tp + fp + fn else 0.0)
        if tp + fp + fn:
            nonempty.append(ious[-1])
    out = {
        "mIoU": 100 * np.mean(ious),
        "mIoU_nonempty": 100 * np.mean(nonempty),
        "pixel_acc": 100 * np.mean(pred[valid] == target[valid]),
    }
    out.update({f"IoU_{k}": 100 * v for k, v in enumerate(ious)})
    return out


def np_depth(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    valid = (target > 0) & np.isfinite(target)
    p, t = pred[valid].astype(np.float64), target[valid].astype(np.float64)
    p = p.copy()
    p[p <= 0] = 1e-9  # the release's eval_depth.py, before every metric
    ratio = np.maximum(p / t, t / p)
    return {
        "rmse": np.sqrt(np.mean((p - t) ** 2)),
        "log_rmse": np.sqrt(np.mean((np.log(p) - np.log(t)) ** 2)),
        "abs_rel": np.mean(np.abs(p - t) / t),
        "sq_rel": np.mean((p - t) ** 2 / t),
        "delta1": 100 * np.mean(ratio < 1.25),
        "delta2": 100 * np.mean(ratio < 1.25**2),
        "delta3": 100 * np.mean(ratio < 1.25**3),
    }


def np_normals(pred: np.ndarray, target: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    p = np.moveaxis(pred, 1, -1).reshape(-1, 3).astype(np.float64)
    t = np.moveaxis(target, 1, -1).reshape(-1, 3).astype(np.float64)
    valid = np.all(np.isfinite(t), axis=1) & (np.linalg.norm(np.nan_to_num(t), axis=1) > 0.5)
    p, t = p[valid], t[valid]
    p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(np.sum(p * t, axis=1), -1, 1)))
    return {
        "mean": ang.mean(),
        "median": np.median(ang),
        "rmse": np.sqrt(np.mean(ang**2)),
        "a11.25": 100 * np.mean(ang < 11.25),
        "a22.5": 100 * np.mean(ang < 22.5),
        "a30": 100 * np.mean(ang < 30),
    }, ang


def np_saliency(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    thresholds = np.linspace(0.2, 0.9, 15)
    rows = []
    for prob, tgt in zip(pred.astype(np.float64), target):
        valid = tgt != 255
        if not valid.any():
            continue
        gt = (tgt == 1) & valid
        row = []
        for th in thresholds:
            fg = (prob > th) & valid
            tp, fp, fn = np.sum(fg & gt), np.sum(fg & ~gt), np.sum(~fg & gt)
            prec = tp / (tp + fp) if tp + fp else 0.0
            rec = tp / (tp + fn) if tp + fn else 0.0
            iou = tp / (tp + fp + fn) if tp + fp + fn else 1.0
            row.append((prec, rec, iou))
        rows.append(row)
    arr = np.array(rows)  # images × thresholds × 3
    prec, rec, iou = arr.mean(0).T

    def fmax(b2: float) -> float:
        f = [(1 + b2) * p * r / (b2 * p + r) if b2 * p + r > 0 else 0.0 for p, r in zip(prec, rec)]
        return 100 * max(f)

    return {"mIoU": 100 * iou.max(), "maxF": fmax(0.3), "maxF_beta1": fmax(1.0)}


# ----------------------------------------------------------------------------- hand-computed cases


def test_miou_hand_computed():
    target = torch.tensor([[[0, 0, 1], [1, 2, 255]]])
    pred = torch.tensor([[[0, 1, 1], [1, 0, 2]]])
    # class 0: TP 1, FP 1, FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3; class 2: FN 1 -> 0; class 3: empty
    m = MeanIoU(4)
    m.update(pred, target)
    out = m.compute()
    assert out["mIoU"] == pytest.approx(100 * (1 / 3 + 2 / 3 + 0 + 0) / 4)
    assert out["mIoU_nonempty"] == pytest.approx(100 * (1 / 3 + 2 / 3 + 0) / 3)
    assert out["pixel_acc"] == pytest.approx(100 * 3 / 5)
    assert [out[f"IoU_{k}"] for k in range(4)] == pytest.approx([100 / 3, 200 / 3, 0.0, 0.0])
    assert m.confusion.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_miou_rejects_out_of_range_labels():
    m = MeanIoU(3)
    with pytest.raises(ValueError, match="target label 7"):
        m.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.tensor([[[0, 7], [255, 1]]]))
    with pytest.raises(ValueError, match="predicted label 3"):
        m.update(torch.tensor([[[0, 3], [1, 1]]]), torch.tensor([[[0, 1], [1, 1]]]))
    m.update(torch.tensor([[[0, 9], [1, 1]]]), torch.tensor([[[0, 255], [1, 1]]]))  # ignored pixel
    with pytest.raises(ValueError, match="same shape"):
        m.update(torch.zeros(1, 2, 2), torch.zeros(1, 2, 3))


def test_depth_hand_computed():
    target = torch.tensor([[[[1.0, 2.0, 0.0], [4.0, 1.0, float("nan")]]]])
    pred = torch.tensor([[[[2.0, 3.0, 5.0], [2.0, 1.0, 1.0]]]])
    # valid (t, p): (1, 2), (2, 3), (4, 2), (1, 1); errors 1, 1, -2, 0; ratios 2, 1.5, 2, 1
    m = DepthMetric()
    m.update(pred, target)
    out = m.compute()
    assert out["rmse"] == pytest.approx(math.sqrt(6 / 4))
    assert out["log_rmse"] == pytest.approx(math.sqrt((2 * math.log(2) ** 2 + math.log(1.5) ** 2) / 4))
    assert out["abs_rel"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)
    assert out["sq_rel"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert (out["delta1"], out["delta2"], out["delta3"]) == pytest.approx((25.0, 50.0, 50.0))


def test_depth_non_positive_prediction_is_clamped_before_every_metric():
    # as the release (output[output <= 0] = 1e-9): -1 and 0 both count as 1e-9 m, 0.5 stays 0.5
    m = DepthMetric()
    m.update(torch.tensor([[[[-1.0, 0.0, 0.5]]]]), torch.tensor([[[[1.0, 2.0, 1.0]]]]))
    out = m.compute()
    e = 1e-9
    assert out["rmse"] == pytest.approx(math.sqrt(((1 - e) ** 2 + (2 - e) ** 2 + 0.25) / 3))
    assert out["abs_rel"] == pytest.approx(((1 - e) / 1 + (2 - e) / 2 + 0.5) / 3)
    assert out["log_rmse"] == pytest.approx(
        math.sqrt((math.log(e) ** 2 + math.log(e / 2) ** 2 + math.log(0.5) ** 2) / 3)
    )
    assert out["delta3"] == 0.0  # ratios 1e9, 2e9 and 2 (> 1.25³ = 1.953)


def test_normals_hand_computed():
    s, c = math.sin(math.radians(10)), math.cos(math.radians(10))
    t25 = math.radians(25)
    target = torch.tensor([[0, 0, 1], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 0.0]]).T
    pred = torch.tensor(
        [[0, 0, 2], [s, 0, c], [math.cos(t25), math.sin(t25), 0], [1, 0, 0], [1, 0, 0.0]]
    ).T  # angles 0, 10, 25, 90 degrees; the last pixel is invalid
    m = NormalsMetric()
    m.update(pred.reshape(1, 3, 1, 5), target.reshape(1, 3, 1, 5))
    out = m.compute()
    assert out["mean"] == pytest.approx((0 + 10 + 25 + 90) / 4)
    assert out["median"] == pytest.approx((10 + 25) / 2, abs=0.01)
    assert out["rmse"] == pytest.approx(math.sqrt((100 + 625 + 8100) / 4))
    assert (out["a11.25"], out["a22.5"], out["a30"]) == pytest.approx((50.0, 50.0, 75.0))


def test_normals_antiparallel_and_unnormalised():
    m = NormalsMetric()
    target = torch.tensor([0.0, 0.0, 1.0]).reshape(1, 3, 1, 1)
    m.update(torch.tensor([0.0, 0.0, -5.0]).reshape(1, 3, 1, 1), target)
    out = m.compute()
    assert out["mean"] == pytest.approx(180.0)
    assert out["median"] == pytest.approx(180.0, abs=0.01)


def test_normals_valid_mask_matches_task():
    from mtbench.metrics.normals import _valid_normals
    from mtbench.tasks.normals import valid_normals

    _, target = _data("normals")
    assert torch.equal(_valid_normals(target), valid_normals(target))


def test_saliency_hand_computed():
    # valid pixels (prob, mask): (0.1, 0), (0.52, 1), (0.95, 1), (0.32, 0), (0.0, 1); one ignored.
    pred = torch.tensor([[[[0.1, 0.52, 0.95], [0.32, 0.87, 0.0]]]])
    target = torch.tensor([[[[0.0, 1.0, 1.0], [0.0, 255.0, 1.0]]]])
    # thresholds 0.20-0.30 (3): TP 2 FP 1 FN 1; 0.35-0.50 (4): TP 2 FN 1; 0.55-0.90 (8): TP 1 FN 2
    prec = [2 / 3] * 3 + [1.0] * 4 + [1.0] * 8
    rec = [2 / 3] * 3 + [2 / 3] * 4 + [1 / 3] * 8
    iou = [2 / 4] * 3 + [2 / 3] * 4 + [1 / 3] * 8
    m = SaliencyMetric()
    m.update(pred, target)
    assert (m.sum_precision.tolist(), m.sum_recall.tolist()) == (pytest.approx(prec), pytest.approx(rec))
    assert m.sum_iou.tolist() == pytest.approx(iou)
    out = m.compute()
    assert out["mIoU"] == pytest.approx(100 * 2 / 3)
    assert out["maxF"] == pytest.approx(100 * 1.3 * (2 / 3) / (0.3 + 2 / 3))  # at P = 1, R = 2/3
    assert out["maxF_beta1"] == pytest.approx(100 * 0.8)  # 2 * (2/3)(2/3) / (4/3) = 2/3 < 2(2/3)/(5/3)

    # A second image: empty mask, empty prediction -> IoU 1, precision 0, recall 0 at every threshold.
    m.update(torch.full((1, 1, 2, 3), 0.1), torch.zeros(1, 1, 2, 3))
    # and a fully ignored image, which is skipped
    m.update(torch.full((1, 1, 2, 3), 0.9), torch.full((1, 1, 2, 3), 255.0))
    out = m.compute()
    assert int(m.n_images) == 2
    assert out["mIoU"] == pytest.approx(100 * (2 / 3 + 1) / 2)
    p, r = 0.5, 1 / 3  # thresholds 0.35-0.50 after averaging with (0, 0)
    assert out["maxF"] == pytest.approx(100 * 1.3 * p * r / (0.3 * p + r))
    assert out["maxF_beta1"] == pytest.approx(100 * 2 * p * r / (p + r))


def test_saliency_thresholds():
    assert len(THRESHOLDS) == 15
    assert THRESHOLDS[0] == 0.2 and THRESHOLDS[-1] == 0.9
    assert np.allclose(np.diff(THRESHOLDS), 0.05)


# ----------------------------------------------------------------------------- NumPy reference


def test_random_against_numpy():
    pred, target = _data("semseg")
    _assert_same(_one_shot("semseg"), np_miou(pred.numpy(), target.numpy(), NUM_CLASSES), rel=1e-9)
    pred, target = _data("depth")
    _assert_same(_one_shot("depth"), np_depth(pred.numpy(), target.numpy()), rel=1e-9)
    pred, target = _data("saliency")
    _assert_same(_one_shot("saliency"), np_saliency(pred.numpy(), target.numpy()), rel=1e-9)


def test_normals_random_against_numpy():
    pred, target = _data("normals")
    ref, ang = np_normals(pred.numpy(), target.numpy())
    out = _one_shot("normals")
    assert ang.max() > 179.0  # the antiparallel pixel is in the data
    for k in ("mean", "rmse", "a11.25", "a22.5", "a30"):
        assert out[k] == pytest.approx(ref[k], rel=1e-9), k
    assert abs(out["median"] - ref["median"]) <= 0.01
    # odd count, and a dense sample of many angles
    for n in (1001, 20000):
        a = np.random.default_rng(n).uniform(0, 60, size=n)
        v = np.stack([np.sin(np.radians(a)), np.zeros(n), np.cos(np.radians(a))]).reshape(1, 3, 1, n)
        m = NormalsMetric()
        t = torch.zeros(1, 3, 1, n)
        t[:, 2] = 1
        m.update(torch.from_numpy(v), t)
        assert abs(m.compute()["median"] - np.median(a)) <= 0.01


# ----------------------------------------------------------------------------- streaming and merge


@pytest.mark.parametrize("name", sorted(CASES))
def test_streaming_equals_one_shot(name: str):
    pred, target = _data(name)
    metric = CASES[name][0]()
    for lo, hi in ((0, 1), (1, 3), (3, 4), (4, 6)):
        metric.update(pred[lo:hi], target[lo:hi])
    _assert_same(metric.compute(), _one_shot(name))


@pytest.mark.parametrize("name", sorted(CASES))
def test_merge_of_halves_equals_one_shot(name: str):
    pred, target = _data(name)
    a, b = CASES[name][0](), CASES[name][0]()
    a.update(pred[:3], target[:3])
    b.update(pred[3:], target[3:])
    _assert_same(a.merge(b).compute(), _one_shot(name))
    a.reset()
    a.update(pred, target)
    _assert_same(a.compute(), _one_shot(name))


@pytest.mark.parametrize("name", sorted(CASES))
def test_specs_cover_compute_keys(name: str):
    metric = CASES[name][0]()
    specs = type(metric).metric_specs(getattr(metric, "num_classes", None))  # from the class, no instance
    assert [s.name for s in specs] == list(_one_shot(name))
    assert metric.compute().keys() == _one_shot(name).keys()  # empty state: NaN, same keys
    assert 0 <= metric.__doc__.find("Convention:") < 120  # the docstring opens with its convention


@pytest.mark.parametrize("task_name", list_tasks())
def test_task_metrics_and_primary_keys(task_name: str):
    """Every registered task: its primary names a reported metric whose spec the class declares."""
    from mtbench.registry import get_task

    task = get_task(task_name)
    num_classes = 7 if task.target_dtype == torch.int64 else None  # label tasks need a class count
    metric = task.make_metric(num_classes)
    assert task.primary in [s.name for s in metric.specs]
    spec = next(s for s in metric.specs if s.name == task.primary)
    assert spec == task.primary_spec
    assert task.metric_specs(num_classes) == type(metric).metric_specs(num_classes)


def test_metric_specs_without_instances():
    """Directions come from the metric class: per-class keys find their family, unknown keys nothing."""
    from mtbench.metrics.segmentation import MeanIoU
    from mtbench.registry import get_task

    semseg = get_task("semseg")
    assert [s.name for s in semseg.metric_specs(3)] == ["mIoU", "mIoU_nonempty", "pixel_acc", "IoU_0", "IoU_1", "IoU_2"]
    assert semseg.metric_spec("IoU_17") == MetricSpec("IoU_17", "%", True)
    assert semseg.metric_spec("IoU_x") is None and semseg.metric_spec("IoU") is None
    assert MeanIoU.find_spec("pixel_acc") == MetricSpec("pixel_acc", "%", True)
    assert get_task("depth").metric_spec("rmse") == MetricSpec("rmse", "m", False)
    assert get_task("depth").metric_spec("IoU_1") is None
    assert get_task("normals").primary_spec == MetricSpec("mean", "deg", False)
    assert get_task("edge").metric_spec("odsF").higher_is_better


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_matches_cpu(name: str):
    pred, target = _data(name)
    metric = CASES[name][0]()
    metric.update(pred.cuda(), target.cuda())
    assert all(t.device.type == "cuda" for t in metric.state().values())
    _assert_same(metric.compute(), _one_shot(name), rel=1e-9)


# ----------------------------------------------------------------------------- gloo all-reduce


def _dist_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        results = {}
        for name in sorted(CASES):
            pred, target = _data(name)
            metric = CASES[name][0]()
            half = slice(3 * rank, 3 * rank + 3)
            metric.update(pred[half], target[half])
            results[name] = metric.all_reduce().compute()
        with open(f"{out_dir}/rank{rank}.json", "w") as f:
            json.dump(results, f)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gloo_all_reduce_two_processes_equals_one(tmp_path):
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available():
        pytest.skip("torch.distributed not available")
    mp.spawn(_dist_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for name in sorted(CASES):
            _assert_same(results[name], _one_shot(name))
