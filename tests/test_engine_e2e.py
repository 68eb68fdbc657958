"""End to end: a tiny run per model, resume equivalence, NaN detection, the record's contents."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from conftest import tiny_overrides

from mtbench.cli import main
from mtbench.config import build_config
from mtbench.engine.losses import NonFiniteLoss
from mtbench.engine.run import run_experiment
from mtbench.engine.trainer import Interrupted, Trainer
from mtbench.reporting.results import load_record, load_records

MODELS = [("single_task", "semseg"), ("mtl", "semseg,depth"), ("padnet", "semseg,depth"), ("mtinet", "semseg,depth")]


@pytest.mark.parametrize("model, tasks", MODELS)
def test_tiny_run_per_model_writes_a_valid_record(tmp_path, model, tasks):
    main(["run", "--model", model, "--tasks", tasks, *sum((["--set", s] for s in tiny_overrides(tmp_path)), [])])
    records = load_records(tmp_path / "results")
    assert len(records) == 1
    r = records[0]
    assert r.model == model and r.dataset == "synthetic" and r.status == "complete"
    assert r.tasks == tasks.split(",")
    # aux tasks of the recipe are used by models that take them, dropped (with a note) by the others
    if model in ("padnet", "mtinet"):
        assert r.aux_tasks == ["normals", "edge"]
    else:
        assert r.aux_tasks == [] and any("not used" in n for n in r.notes)
    for t in r.tasks:
        assert r.primary[t] is not None and r.primary[t] == r.metrics[t][{"semseg": "mIoU", "depth": "rmse"}[t]]
    assert 0 <= r.metrics["semseg"]["mIoU"] <= 100
    assert r.config["model"]["name"] == model and r.config_hash and r.seed == 0
    assert r.checkpoint.startswith("last") and r.env.torch == torch.__version__
    run_dir = tmp_path / "runs" / r.id
    assert {"config.yaml", "checkpoint.pt", "log.csv", "record.json"} <= {p.name for p in run_dir.iterdir()}


def test_single_task_with_two_tasks_trains_one_model_each(tmp_path):
    cfg = build_config(None, tiny_overrides(tmp_path, **{"model.name": "single_task"}))
    out = run_experiment(cfg)
    assert sorted(r.tasks[0] for r, _ in out) == ["depth", "semseg"]
    assert all(r.aux_tasks == [] for r, _ in out)


def test_record_has_cost_and_environment(tmp_path):
    cfg = build_config(None, tiny_overrides(tmp_path, **{"model.name": "mtl", "run.profile": "true"}))
    ((record, path),) = run_experiment(cfg)
    data = json.loads(path.read_text())
    assert data["cost"]["params"] > 1_000_000 and data["cost"]["gmacs"] > 0
    assert data["cost"]["input_size"] == [64, 64] and data["cost"]["mem_kind"] == "cpu_peak_rss"
    assert data["cost"]["latency_ms"] > 0 and data["cost"]["peak_mem_mb"] > 0
    assert data["env"]["python"] and data["env"]["cpu"]


def _stop_after(monkeypatch, n_steps: int) -> None:
    """Make the trainer behave as if SIGTERM arrived during optimiser step ``n_steps``."""
    orig = Trainer._step
    calls = {"n": 0}

    def step(self, batch, epoch):
        calls["n"] += 1
        if calls["n"] == n_steps:
            self._stop_signal = signal.SIGTERM
        return orig(self, batch, epoch)

    monkeypatch.setattr(Trainer, "_step", step)


def test_interrupted_then_resumed_run_equals_uninterrupted(tmp_path, monkeypatch):
    over = {"model.name": "mtl", "train.epochs": 2, "data.aux_tasks": "[]"}
    ((full, _),) = run_experiment(build_config(None, tiny_overrides(tmp_path / "a", **over)))
    _stop_after(monkeypatch, 3)  # 2 steps per epoch: stop in the middle of the second epoch
    cfg = build_config(None, tiny_overrides(tmp_path / "b", **over))
    with pytest.raises(Interrupted, match="SIGTERM received: checkpoint saved at epoch 2 step 1"):
        run_experiment(cfg)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "b" / "runs").iterdir()
    assert not list((tmp_path / "b" / "results").rglob("*.json"))  # no record for an unfinished run
    ((resumed, path),) = run_experiment(cfg, resume=run_dir)
    assert resumed.metrics == full.metrics
    assert load_record(path).id == run_dir.name


def test_nan_loss_fails_with_task_and_step_and_keeps_last_checkpoint(tmp_path):
    cfg = build_config(
        None,
        tiny_overrides(tmp_path, **{"model.name": "mtl", "train.lr": 1e30, "train.epochs": 3, "data.aux_tasks": "[]"}),
    )
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss .* in task '\w+' at epoch \d+ step \d+") as e:
        run_experiment(cfg)
    assert not list((tmp_path / "results").rglob("*.json"))
    (run_dir,) = (tmp_path / "runs").iterdir()
    if (run_dir / "checkpoint.pt").exists():  # blew up after the first epoch: the good checkpoint is named
        assert f"last good checkpoint kept: {run_dir / 'checkpoint.pt'}" in str(e.value)
        ck = torch.load(run_dir / "checkpoint.pt", weights_only=True)  # plain values only
        assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    else:
        assert "no checkpoint was written yet" in str(e.value)


def test_cuda_without_cuda_is_a_one_line_error(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    with pytest.raises(SystemExit) as e:
        main(["run", "--device", "cuda", *sum((["--set", s] for s in tiny_overrides(tmp_path)), [])])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "CUDA is not available" in err and len(err.splitlines()) == 1


def test_edge_as_main_task_reports_ods_and_its_protocol(tmp_path):
    cfg = build_config(
        None,
        tiny_overrides(
            tmp_path,
            **{
                "model.name": "mtl",
                "data.tasks": "[semseg,edge]",
                "data.aux_tasks": "[]",
                "eval.options": "{edge: {thresholds: 9}}",
            },
        ),
    )
    ((record, _),) = run_experiment(cfg)
    assert {"odsF", "oisF", "AP"} <= set(record.metrics["edge"])
    assert record.primary["edge"] == record.metrics["edge"]["odsF"] and 0 <= record.primary["edge"] <= 100
    assert any(n.startswith("edge protocol: max_dist=0.011") and "9 in [0.1, 0.9]" in n for n in record.notes)
