"""Learning curves (eval.every_iters): the points, curve.csv, the record's curve, training unchanged by them,
resume, and ``mtbench plot --curves``."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest
import torch
from conftest import one_line_error, tiny_overrides

from mtbench.cli import main
from mtbench.config import build_config
from mtbench.engine.checkpoint import load_checkpoint
from mtbench.engine.run import build_data, build_model, resolve_experiment, run_experiment
from mtbench.engine.runtime import DistInfo
from mtbench.engine.trainer import Trainer
from mtbench.reporting.plots import curves_figure, load_curves
from mtbench.reporting.results import load_record

# mtl on 16 training images, batch 4: 4 iterations per epoch, 8 in all. Curve every 3 iterations on the first
# 2 of the 4 validation images: points at 0, 3, 6 and 8 (the end of training).
OVER = {
    "model.name": "mtl",
    "data.tasks": "[semseg,depth]",
    "data.aux_tasks": "[]",
    "data.n_train": 16,
    "data.train_size": "[64,96]",
    "train.epochs": 2,
}
CURVE = {"eval.every_iters": 3, "eval.curve_images": 2}
ITERS = [0, 3, 6, 8]


def _run(path, **extra):
    ((record, rec_path),) = run_experiment(build_config(None, tiny_overrides(path, **{**OVER, **extra})))
    return record, path / "runs" / record.id


@pytest.fixture(scope="module")
def runs(module_tmp):
    """Three tiny runs: seed 0 with a curve, seed 0 without, seed 1 with."""
    root = module_tmp("curves")
    return {
        "curve": _run(root / "a", **CURVE),
        "plain": _run(root / "b"),
        "seed1": _run(root / "c", **CURVE, **{"run.seed": 1}),
    }


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_curve_points_csv_and_record(runs):
    record, run_dir = runs["curve"]
    curve = record.curve
    assert curve is not None and curve.split == "val" and curve.eval_images == 2 and curve.every_iters == 3
    assert [p.iteration for p in curve.points] == ITERS
    assert [p.images for p in curve.points] == [4 * i for i in ITERS]  # batch 4, one process
    assert [p.epoch for p in curve.points] == [0.0, 0.75, 1.5, 2.0]
    assert curve.points[0].loss is None and all(p.loss is not None and p.loss > 0 for p in curve.points[1:])
    secs = [p.seconds for p in curve.points]
    assert secs[0] == 0.0 and secs == sorted(secs)
    for p in curve.points:
        assert set(p.primary) == {"semseg", "depth"} and all(v is not None for v in p.primary.values())
    assert record.timings["val"] > 0  # the curve's evaluations are counted as evaluations during training

    rows = _csv(run_dir / "curve.csv")
    assert [int(r["iteration"]) for r in rows] == ITERS
    header = list(rows[0])
    assert header[:6] == ["iteration", "epoch", "images", "seconds", "eval_seconds", "eval_images"]
    assert header.index("loss_total") < header.index("val_semseg_mIoU")
    assert {"val_semseg_pixel_acc", "val_depth_rmse", "val_depth_delta1"} <= set(header)
    assert not any(k.startswith("val_semseg_IoU_") for k in header)  # no per-class values
    assert rows[0]["loss_total"] == "" and float(rows[1]["loss_total"]) == curve.points[1].loss
    for r, p in zip(rows, curve.points):
        assert float(r["val_semseg_mIoU"]) == p.primary["semseg"] and float(r["val_depth_rmse"]) == p.primary["depth"]
    assert load_checkpoint(run_dir / "checkpoint.pt")["train_state"]["curve"][-1]["iteration"] == 8
    assert load_record(run_dir / "record.json").curve == curve
    # the final evaluation is the whole split, not the curve's subset
    assert record.metrics["semseg"]["mIoU"] != curve.points[-1].primary["semseg"]


def test_curve_kept_by_mtbench_eval(runs, tmp_path):
    import shutil

    record, run_dir = runs["curve"]
    run_dir = shutil.copytree(run_dir, tmp_path / run_dir.name)
    main(["eval", str(run_dir), "--results", str(tmp_path / "results")])
    assert load_record(run_dir / "record.json").curve == record.curve
    assert runs["plain"][0].curve is None


def test_curve_does_not_change_training(runs):
    (with_curve, a), (without, b) = runs["curve"], runs["plain"]
    assert with_curve.config_hash == without.config_hash  # the same experiment
    assert with_curve.metrics == without.metrics  # bit-identical
    wa, wb = load_checkpoint(a / "checkpoint.pt")["model"], load_checkpoint(b / "checkpoint.pt")["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    la, lb = _csv(a / "log.csv"), _csv(b / "log.csv")
    assert [{k: v for k, v in r.items() if k.startswith("loss_")} for r in la] == [
        {k: v for k, v in r.items() if k.startswith("loss_")} for r in lb
    ]


def test_curve_evaluation_leaves_rng_and_bn_statistics_alone(tmp_path):
    cfg = build_config(None, tiny_overrides(tmp_path, **OVER, **CURVE))
    exp = resolve_experiment(cfg)
    train, val = build_data(cfg, exp, "train"), build_data(cfg, exp, "val")
    trainer = Trainer(
        cfg, build_model(cfg, exp), train, val, exp.spec, exp.tasks, [], torch.device("cpu"), DistInfo(), tmp_path
    )
    trainer.model.train()

    def snapshot():
        return (
            random.getstate(),
            np.random.get_state(legacy=True),
            torch.get_rng_state().clone(),
            {k: v.clone() for k, v in trainer.model.state_dict().items()},
        )

    torch.manual_seed(123)
    before = snapshot()
    trainer.evaluate(2)  # the loaders draw their seeds from generators of their own, never from torch's RNG
    assert torch.equal(torch.get_rng_state(), before[2])
    forward = trainer.model.forward
    trainer.model.forward = lambda *a, **k: (torch.rand(1), forward(*a, **k))[1]  # a model that draws in eval mode
    torch.manual_seed(123)
    trainer.evaluate(2)  # a plain evaluation then draws from torch's RNG ...
    assert not torch.equal(torch.get_rng_state(), before[2])
    torch.manual_seed(123)
    assert trainer.curve_evaluate().metrics  # ... a curve evaluation gives it back
    py, npy, tr, sd = snapshot()
    assert py == before[0] and tr.equal(before[2])
    assert npy[0] == before[1][0] and np.array_equal(npy[1], before[1][1]) and npy[2:] == before[1][2:]
    assert sd.keys() == before[3].keys() and all(torch.equal(sd[k], before[3][k]) for k in sd)  # BN buffers too
    assert any("running_mean" in k for k in sd)
    assert trainer.model.training  # back in training mode


def test_resume_after_a_crash_keeps_earlier_points(runs, tmp_path, monkeypatch):
    """A crash after the point at iteration 6 (the last checkpoint: the end of epoch 1, iteration 4): the
    resumed run measures 6 and 8 again and ends with the uninterrupted run's curve; curve.csv agrees."""
    orig, calls = Trainer._step, {"n": 0}

    def step(self, batch, epoch):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("crash")
        return orig(self, batch, epoch)

    monkeypatch.setattr(Trainer, "_step", step)
    cfg = build_config(None, tiny_overrides(tmp_path, **OVER, **CURVE))
    with pytest.raises(RuntimeError, match="crash"):
        run_experiment(cfg)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert [int(r["iteration"]) for r in _csv(run_dir / "curve.csv")] == [0, 3, 6]
    assert [p["iteration"] for p in load_checkpoint(run_dir / "checkpoint.pt")["train_state"]["curve"]] == [0, 3]

    ((resumed, _),) = run_experiment(cfg, resume=run_dir)
    full = runs["curve"][0]
    assert resumed.metrics == full.metrics
    assert [p.model_dump(exclude={"seconds"}) for p in resumed.curve.points] == [
        p.model_dump(exclude={"seconds"}) for p in full.curve.points
    ]  # the loss mean across the interruption included
    assert [int(r["iteration"]) for r in _csv(run_dir / "curve.csv")] == ITERS


def test_curve_lines_printed(tmp_path, capsys):
    run_experiment(build_config(None, tiny_overrides(tmp_path, **OVER, **CURVE, **{"run.quiet": "false"})))
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("curve iter")]
    assert [ln.split()[2] for ln in lines] == [f"{i}/8" for i in ITERS]
    assert all(s in lines[1] for s in ("semseg mIoU=", "depth rmse=", "loss ", "on 2 images"))


def test_plot_curves_png_and_lines(runs, tmp_path, capsys):
    dir0, (r1, dir1) = runs["curve"][1], runs["seed1"]
    out = tmp_path / "curves.png"
    main(["plot", "--curves", str(dir0), str(r1.path), "--out", str(out)])  # a run folder and a record file
    assert f"wrote {out}" in capsys.readouterr().out
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000

    fig = curves_figure(load_curves([dir0, dir1]))
    assert [ax.get_title() for ax in fig.axes] == ["semseg", "depth"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert fig.axes[0].get_ylabel() == "semseg mIoU (%) ↑" and fig.axes[1].get_ylabel() == "depth rmse (m) ↓"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["mtl seed 0", "mtl seed 1"]
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == ITERS
    fig = curves_figure(load_curves([dir0.parent.parent / "results", dir1]), tasks=["depth"], x="images")
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 2 and fig.axes[0].get_xlabel().endswith("seen")


def test_plot_curves_of_an_unfinished_run(runs, tmp_path):
    import shutil

    run_dir = tmp_path / runs["curve"][1].name
    shutil.copytree(runs["curve"][1], run_dir)
    (run_dir / "record.json").unlink()
    (r,) = load_curves([run_dir])
    assert r.status == "running" and r.tasks == ["semseg", "depth"] and r.seed == 0
    assert r.curve.points == runs["curve"][0].curve.points
    fig = curves_figure([r])
    assert fig.axes[0].get_legend().get_texts()[0].get_text() == "mtl seed 0 (running)"


def test_plot_curves_errors(runs, tmp_path, capsys):
    plain, plain_dir = runs["plain"]
    out = str(tmp_path / "x.png")
    one_line_error(["plot", "--curves", str(plain.path), "--out", out], capsys, pattern="no learning curve")
    one_line_error(["plot", "--curves", str(plain_dir), "--out", out], capsys, pattern="no learning curve")
    one_line_error(
        ["plot", "--curves", str(plain_dir.parent.parent / "results"), "--out", out],
        capsys,
        pattern="none of its 1 record.s. has a learning curve",
    )
    one_line_error(["plot", "--curves", "--out", out], capsys, code=2, pattern="--curves: name record files")
    one_line_error(["plot", str(plain.path)], capsys, code=2, pattern="go with --curves")
    one_line_error(
        ["plot", "--curves", str(runs["curve"][1]), "--task", "normals", "--out", out], capsys, code=2, pattern="--task"
    )
    assert not (tmp_path / "x.png").exists()


def test_curve_fields_are_not_in_the_config_hash_and_are_validated(tmp_path):
    from mtbench.errors import UsageError

    base = build_config(None, tiny_overrides(tmp_path))
    assert base.eval.every_iters == 0 and base.eval.curve_images is None
    assert build_config(None, tiny_overrides(tmp_path, **CURVE)).hash() == base.hash()
    with pytest.raises(UsageError, match="eval.every_iters"):
        build_config(None, ["eval.every_iters=-1"])
    with pytest.raises(UsageError, match="eval.curve_images"):
        build_config(None, ["eval.curve_images=0"])
