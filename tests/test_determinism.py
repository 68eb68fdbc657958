"""Determinism: the same seed and config on CPU give bit-identical metrics and weights across runs; the
record's config hash identifies the experiment (paths, device and verbosity excluded)."""

from __future__ import annotations

import torch
from conftest import tiny_overrides

from mtbench.config import RunConfig, build_config
from mtbench.engine.checkpoint import load_checkpoint
from mtbench.engine.run import run_experiment

OVER = {"model.name": "mtl", "data.aux_tasks": "[]", "train.epochs": 2}


def test_same_seed_and_config_give_bit_identical_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ((a, _),) = run_experiment(build_config(None, tiny_overrides(tmp_path / "a", **OVER)))
    ((b, _),) = run_experiment(build_config(None, tiny_overrides(tmp_path / "b", **OVER)))
    assert a.id != b.id
    assert a.metrics == b.metrics and a.primary == b.primary  # exact float equality
    assert a.config_hash == b.config_hash and a.seed == b.seed == 0
    wa = load_checkpoint(tmp_path / "a" / "runs" / a.id / "checkpoint.pt")["model"]
    wb = load_checkpoint(tmp_path / "b" / "runs" / b.id / "checkpoint.pt")["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    # the stored config reproduces the experiment and its hash
    assert RunConfig.model_validate(a.config).hash() == a.config_hash
    assert (tmp_path / "a" / "runs" / a.id / "log.csv").read_text() != ""


def test_config_hash_identifies_the_experiment(tmp_path):
    base = tiny_overrides(tmp_path, **OVER)
    h = build_config(None, base).hash()
    assert len(h) == 16 and int(h, 16) >= 0
    # where results go, the device, workers, verbosity and run name do not change the experiment
    same = [
        ["run.results=/elsewhere/results", "run.runs_dir=/elsewhere/runs"],
        ["run.device=cpu"],
        ["data.workers=2"],
        ["run.quiet=false"],
        ["run.name=my-run"],
        ["run.tensorboard=true"],
    ]
    for extra in same:
        assert build_config(None, base + extra).hash() == h, extra
    # anything that changes what is trained or measured does
    different = [
        ["run.seed=1"],
        ["train.lr=0.002"],
        ["model.name=padnet"],
        ["model.backbone=resnet18"],
        ["data.tasks=[semseg]"],
        ["data.aux_tasks=[edge]"],
        ["train.epochs=3"],
        ["data.train_size=[96,96]"],
        ["model.kwargs={width: 2}"],
        ["eval.split=train"],
    ]
    hashes = {build_config(None, base + extra).hash() for extra in different}
    assert len(hashes) == len(different) and h not in hashes
