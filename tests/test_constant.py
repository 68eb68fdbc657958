"""The constant-predictor floor (mtbench.constant) against an independent NumPy computation, and its record."""

from __future__ import annotations

import numpy as np
import pytest
from _scripts import load_script

from mtbench.config import RunConfig, build_config
from mtbench.constant import constant_scores
from mtbench.data import build_dataset
from mtbench.registry import get_task
from mtbench.reporting.results import RunKey, load_record

SETS = [
    "data.n_train=6",
    "data.n_val=3",
    "data.train_size=[64,96]",
    "data.seed=4",
    "data.tasks=[semseg,depth,normals,saliency]",
]


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


def _script():
    return load_script("constant_baseline.py")


def test_floor_record_stores_a_fresh_computation(tmp_path, capsys):
    """scripts/constant_baseline.py writes the floor once as a normal record (model constant, its own config and
    provenance) holding exactly what a fresh computation gives; written again for the same config it is replaced."""
    results = tmp_path / "results"
    args = [x for s in SETS for x in ("--set", s)] + ["--results", str(results)]
    _script().main(args)
    [path] = (results / "synthetic" / "constant").iterdir()
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {path}"
    rec = load_record(path)
    assert rec.is_floor and rec.source == "measured" and rec.status == "complete" and rec.seed == 0
    assert rec.tasks == ["semseg", "depth", "normals", "saliency"] and rec.aux_tasks == [] and rec.split == "val"
    cfg = RunConfig.model_validate(rec.config)
    assert cfg.model.name == "constant" and cfg.data.aux_tasks == [] and (cfg.data.n_train, cfg.data.n_val) == (6, 3)
    assert cfg.data_seed == 4  # the scenes scored: data.seed 4 (the run seed, 0, does not choose them)
    assert rec.config_hash == cfg.hash() and rec.key.run == RunKey.of_config(cfg) and rec.env.torch
    fresh = constant_scores(build_config(None, SETS))
    assert rec.metrics == fresh == constant_scores(cfg)
    assert rec.primary == {t: fresh[t][get_task(t).primary] for t in rec.tasks}
    _script().main(args)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # same config: the same file, replaced
    capsys.readouterr()
    _script().main([*args[:-2], "--no-record"])
    assert len(list(path.parent.iterdir())) == 1 and "wrote" not in capsys.readouterr().out
