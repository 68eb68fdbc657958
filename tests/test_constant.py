"""The constant-predictor floor (mtbench.constant) against an independent NumPy computation."""
from __future__ import annotations

import numpy as np
import pytest

from mtbench.config import build_config
from mtbench.constant import constant_scores
from mtbench.data import build_dataset

SETS = ["data.n_train=6", "data.n_val=3", "data.train_size=[64,96]", "run.seed=4",
        "data.tasks=[semseg,depth,normals,saliency]"]


def _arrays(split: str, n: int, tasks: list[str]) -> list[dict[str, np.ndarray]]:
    ds = build_dataset("synthetic", split, tasks=tasks, train=False, size=(64, 96), n=n, seed=4)
    return [{t: ds[i][t].numpy() for t in tasks} for i in range(n)]


def test_constant_scores_match_numpy():
    tasks = ["semseg", "depth", "normals", "saliency"]
    got = constant_scores(build_config(None, SETS))
    assert set(got) == set(tasks)  # edge (no meaningful constant) is not in this task set anyway
    train, val = _arrays("train", 6, tasks), _arrays("val", 3, tasks)

    # semseg: majority class k everywhere -> IoU_k = |gt = k| / |valid|, every other class 0; mIoU averages
    # all 10 classes (an empty-union class counts 0), mIoU_nonempty the classes with a non-empty union
    lab = np.concatenate([s["semseg"].ravel() for s in train])
    k = np.bincount(lab[lab != 255], minlength=10).argmax()
    v = np.concatenate([s["semseg"].ravel() for s in val])
    v = v[v != 255]
    present = np.unique(v)
    iou = {c: (np.sum(v == k) / v.size if c == k else 0.0) for c in present}
    if k not in present:
        iou[k] = 0.0
    assert got["semseg"]["mIoU"] == pytest.approx(100 * iou[k] / 10, abs=1e-4)
    assert got["semseg"]["mIoU_nonempty"] == pytest.approx(100 * np.mean(list(iou.values())), abs=1e-4)
    assert got["semseg"]["pixel_acc"] == pytest.approx(100 * np.mean(v == k), abs=1e-4)

    # depth: the training split's mean valid depth everywhere, RMSE pooled over valid val pixels
    d_train = np.concatenate([s["depth"].ravel() for s in train])
    mean = d_train[d_train > 0].astype(np.float64).mean()
    d_val = np.concatenate([s["depth"].ravel() for s in val]).astype(np.float64)
    d_val = d_val[d_val > 0]
    assert got["depth"]["rmse"] == pytest.approx(np.sqrt(np.mean((d_val - mean) ** 2)), rel=1e-5)

    # normals: the normalised mean normal everywhere -> mean angular error
    n_train = np.concatenate([s["normals"].reshape(3, -1) for s in train], 1).astype(np.float64)
    m = n_train.sum(1) / np.linalg.norm(n_train.sum(1))
    n_val = np.concatenate([s["normals"].reshape(3, -1) for s in val], 1).astype(np.float64)
    cos = np.clip(m @ (n_val / np.linalg.norm(n_val, axis=0)), -1, 1)
    assert got["normals"]["mean"] == pytest.approx(np.degrees(np.arccos(cos)).mean(), abs=0.02)

    # saliency: the majority label here is background, predicted everywhere (probability 0): nothing is
    # ever predicted salient, so precision 0 (maxF 0) and IoU 1 only on images without salient pixels
    sal = np.concatenate([s["saliency"].ravel() for s in train])
    assert np.mean(sal == 1) < 0.5
    no_fg = [not np.any(s["saliency"] == 1) for s in val]
    assert got["saliency"]["maxF"] == 0.0
    assert got["saliency"]["mIoU"] == pytest.approx(100 * np.mean(no_fg))
