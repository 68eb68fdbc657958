"""TensorBoard logging (``run.tensorboard``): the event file's scalars and images hold the run's own values
(learning rate, losses, curve points, epoch evaluations, final metrics), training is unchanged by it, a resumed
run writes no step twice, and without the package such a run stops with one line."""

from __future__ import annotations

import csv
import random
import re
import sys

import pytest
import torch
from conftest import one_line_error, tiny_overrides

pytest.importorskip("tensorboard")  # the optional extra (`make setup` installs it)

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader  # noqa: E402
from tensorboard.compat.proto.event_pb2 import SessionLog  # noqa: E402

from mtbench import _testhooks  # noqa: E402
from mtbench.config import build_config  # noqa: E402
from mtbench.engine.checkpoint import load_checkpoint  # noqa: E402
from mtbench.engine.optim import lr_factor  # noqa: E402
from mtbench.engine.run import build_data, build_model, resolve_experiment, run_experiment  # noqa: E402
from mtbench.engine.runtime import DistInfo  # noqa: E402
from mtbench.engine.tensorboard import N_IMAGES, TB_DIR, Board  # noqa: E402
from mtbench.engine.trainer import Interrupted, Trainer  # noqa: E402

# mtl on 16 training images, batch 4: 4 iterations per epoch, 8 in all; curve every 3 iterations on 2 of the
# 4 validation images (points 0, 3, 6, 8), whole-split evaluations at each epoch's end (4, 8)
OVER = {
    "model.name": "mtl",
    "data.tasks": "[semseg,depth]",
    "data.aux_tasks": "[]",
    "data.n_train": 16,
    "data.train_size": "[64,96]",
    "train.epochs": 2,
    "eval.every": 1,
    "eval.every_iters": 3,
    "eval.curve_images": 2,
}
CURVE_ITERS, EPOCH_ITERS, FINAL = [0, 3, 6, 8], [4, 8], 8
TB = {"run.tensorboard": "true"}


def _cfg(path, **extra):
    return build_config(None, tiny_overrides(path, **{**OVER, **extra}))


def _run(path, **extra):
    ((record, _),) = run_experiment(_cfg(path, **extra))
    return record, path / "runs" / record.id


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _events(run_dir) -> EventAccumulator:
    ea = EventAccumulator(str(run_dir / TB_DIR), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    return ea


def _scalars(ea, tag) -> dict[int, float]:
    steps = [e.step for e in ea.Scalars(tag)]
    assert len(steps) == len(set(steps)), f"{tag}: a step written twice: {steps}"
    return {e.step: e.value for e in ea.Scalars(tag)}


@pytest.fixture(scope="module")
def runs(module_tmp):
    root = module_tmp("tb")
    return {"tb": _run(root / "a", **TB), "plain": _run(root / "b")}


def test_scalars_hold_the_runs_values(runs):
    record, run_dir = runs["tb"]
    ea = _events(run_dir)
    tags = set(ea.Tags()["scalars"])
    assert {"train/loss", "train/loss/semseg", "train/loss/depth", "train/lr"} <= tags
    iters = list(range(1, FINAL + 1))

    # the learning rate each iteration trained with: the schedule's (warm-up here) at iteration step - 1
    cfg = _cfg(run_dir.parent.parent)
    lr = _scalars(ea, "train/lr")
    assert list(lr) == iters
    for step, v in lr.items():
        assert v == pytest.approx(cfg.train.lr * lr_factor(step - 1, FINAL, cfg.train, 4), rel=1e-6)

    # per-iteration losses: their means since the previous point are curve.csv's, per epoch log.csv's
    loss = _scalars(ea, "train/loss")
    assert list(loss) == iters and all(v > 0 for v in loss.values())
    for task in ("semseg", "depth"):
        assert list(_scalars(ea, f"train/loss/{task}")) == iters
    curve = _csv(run_dir / "curve.csv")
    assert [int(r["iteration"]) for r in curve] == CURVE_ITERS
    for prev, row in zip(CURVE_ITERS, curve[1:]):
        steps = range(prev + 1, int(row["iteration"]) + 1)
        assert sum(loss[s] for s in steps) / len(steps) == pytest.approx(float(row["loss_total"]), rel=1e-5)
    log_rows = _csv(run_dir / "log.csv")
    for e, row in enumerate(log_rows):
        semseg = [_scalars(ea, "train/loss/semseg")[s] for s in range(4 * e + 1, 4 * e + 5)]
        assert sum(semseg) / 4 == pytest.approx(float(row["loss_semseg"]), rel=1e-5)

    # learning-curve points: curve.csv's values (and the record's primary), summary metrics only
    val_tags = {t for t in tags if t.startswith("val/")}
    assert val_tags == {f"val/{k[4:].replace('_', '/', 1)}" for k in curve[0] if k.startswith("val_")}
    assert "val/semseg/mIoU" in val_tags and not any(re.search(r"IoU_\d", t) for t in tags)
    for tag in val_tags:
        col = "val_" + tag[4:].replace("/", "_", 1)
        values = _scalars(ea, tag)
        assert list(values) == CURVE_ITERS
        for row in curve:
            assert values[int(row["iteration"])] == pytest.approx(float(row[col]), rel=1e-6, nan_ok=True)
    mious = _scalars(ea, "val/semseg/mIoU")
    assert [mious[p.iteration] for p in record.curve.points] == pytest.approx(
        [p.primary["semseg"] for p in record.curve.points], rel=1e-6
    )

    # whole-split evaluations at epoch ends: log.csv's val_ columns
    for tag in ("val_epoch/semseg/mIoU", "val_epoch/depth/rmse"):
        col = "val_" + tag.split("/", 1)[1].replace("/", "_")
        assert _scalars(ea, tag) == {i: pytest.approx(float(r[col]), rel=1e-6) for i, r in zip(EPOCH_ITERS, log_rows)}

    # the final evaluation: the record's metrics
    for task, metrics in record.metrics.items():
        for name in ("mIoU", "pixel_acc") if task == "semseg" else ("rmse", "delta1"):
            assert _scalars(ea, f"final/{task}/{name}") == {FINAL: pytest.approx(metrics[name], rel=1e-6)}


def test_images_per_evaluation(runs):
    _, run_dir = runs["tb"]
    ea = _events(run_dir)
    names = [str(i) for i in range(N_IMAGES)]
    assert set(ea.Tags()["images"]) == {f"images/{n}" for n in names} | {f"final/images/{n}" for n in names}
    for n in names:  # one row per task (image | ground truth | prediction) at the 64x96 evaluation size
        during = ea.Images(f"images/{n}")
        assert [e.step for e in during] == sorted(set(CURVE_ITERS) | set(EPOCH_ITERS))
        assert {(e.height, e.width) for e in during} == {(2 * 64, 3 * 96)}
        (final,) = ea.Images(f"final/images/{n}")
        assert (final.step, final.height, final.width) == (FINAL, 2 * 64, 3 * 96)
        assert final.encoded_image_string.startswith(b"\x89PNG")


def test_training_unchanged_and_no_folder_without_the_setting(runs):
    (with_tb, a), (without, b) = runs["tb"], runs["plain"]
    assert (a / TB_DIR).is_dir() and not (b / TB_DIR).exists()
    assert with_tb.config_hash == without.config_hash
    assert with_tb.metrics == without.metrics  # bit-identical
    assert [p.primary for p in with_tb.curve.points] == [p.primary for p in without.curve.points]
    wa, wb = load_checkpoint(a / "checkpoint.pt")["model"], load_checkpoint(b / "checkpoint.pt")["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_board_evaluation_leaves_rng_bn_statistics_and_mode_alone(tmp_path):
    """The images' forward pass (eval mode, RNG states restored) changes nothing that training uses."""
    cfg = _cfg(tmp_path, **TB)
    exp = resolve_experiment(cfg)
    train, val = build_data(cfg, exp, "train"), build_data(cfg, exp, "val")
    model = build_model(cfg, exp)
    trainer = Trainer(cfg, model, train, val, exp.spec, exp.tasks, [], torch.device("cpu"), DistInfo(), tmp_path)
    trainer.board = Board.open(tmp_path)
    trainer.model.train()
    torch.manual_seed(123)
    before = random.getstate(), torch.get_rng_state().clone(), {k: v.clone() for k, v in model.state_dict().items()}
    trainer.board_evaluation("val", {"semseg": {"mIoU": 0.25}})
    trainer.board.close()
    assert random.getstate() == before[0] and torch.get_rng_state().equal(before[1])
    sd = model.state_dict()
    assert any("running_mean" in k for k in sd) and all(torch.equal(sd[k], before[2][k]) for k in sd)
    assert trainer.model.training
    ea = _events(tmp_path)
    assert _scalars(ea, "val/semseg/mIoU") == {0: 0.25}
    assert sorted(ea.Tags()["images"]) == [f"images/{i}" for i in range(N_IMAGES)]


def test_resumed_run_writes_no_step_twice(runs, tmp_path, monkeypatch):
    """Stopped at iteration 5 with its last checkpoint at 4 (the end of epoch 1; later saves suppressed, as if
    the process had died), resumed: TensorBoard drops the first file's step 5 (purge_step), the resumed
    process writes 5 to 8 again, with the uninterrupted run's values."""
    save = Trainer.save
    monkeypatch.setattr(
        Trainer, "save", lambda self, *a, **k: save(self, *a, **k) if self.state.global_step <= 4 else None
    )
    monkeypatch.setattr(_testhooks, "_reached", {})
    monkeypatch.setenv(_testhooks.ENV, "step:5:TERM")
    with pytest.raises(Interrupted):
        run_experiment(_cfg(tmp_path, **TB))
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert load_checkpoint(run_dir / "checkpoint.pt")["train_state"]["global_step"] == 4
    ((resumed, _),) = run_experiment(_cfg(tmp_path), resume=run_dir)

    files = sorted((run_dir / TB_DIR).iterdir())
    assert len(files) == 2
    first = list(EventFileLoader(str(files[0])).Load())
    assert max(e.step for e in first if e.HasField("summary")) == 5  # written before the stop
    start = [e for e in EventFileLoader(str(files[1])).Load() if e.HasField("session_log")]
    assert [(e.step, e.session_log.status) for e in start] == [(5, SessionLog.START)]

    ea, ref = _events(run_dir), _events(runs["tb"][1])
    for tag in ("train/loss", "train/lr", "val/semseg/mIoU", "val_epoch/depth/rmse"):
        assert _scalars(ea, tag) == _scalars(ref, tag), tag
    assert [e.step for e in ea.Images("images/0")] == [e.step for e in ref.Images("images/0")]
    assert resumed.metrics == runs["tb"][0].metrics


def test_missing_package_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    argv = ["run", *sum((["--set", s] for s in tiny_overrides(tmp_path, **OVER, **TB)), [])]
    one_line_error(argv, capsys, code=2, pattern=r"run\.tensorboard=true needs .*pip install 'mtbench\[tensorboard\]'")
    assert not (tmp_path / "runs").exists()  # stopped before the run folder was made
