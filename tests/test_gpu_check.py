"""scripts/gpu_check.py without a GPU: the one-line exit, and its CPU smoke (--cpu-smoke): the models' part in
process, the torchrun (gloo, one distributed process) and bf16 `mtbench run` parts as subprocesses."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from _scripts import load_script

import mtbench.backbones
from mtbench.config import build_config
from mtbench.profiling import profile_config
from mtbench.reporting.results import load_records


@pytest.fixture(scope="module")
def gc():
    try:
        yield load_script("gpu_check.py", register=True)
    finally:
        sys.modules.pop("gpu_check", None)


def test_no_cuda_exits_2_with_one_line(gc, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gc.main(["--out", str(tmp_path / "r.json")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [gc.NO_CUDA]
    assert "no CUDA device" in err and "GPU machine" in err
    assert not (tmp_path / "r.json").exists()


def test_bad_options_one_line(gc, capsys, tmp_path):
    assert gc.main(["--cpu-smoke", "--modes", "fp8", "--out", str(tmp_path / "r.json")]) == 2
    assert gc.main(["--cpu-smoke", "--size", "60,96", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "fp8" in err[0] and "60x96" in err[1]


def test_cpu_smoke_models(gc, monkeypatch, tmp_path, capsys):
    asked = []
    real = mtbench.backbones.weights_source

    def weights_source(pretrained):
        asked.append(pretrained)
        return real(pretrained)

    monkeypatch.setattr(mtbench.backbones, "weights_source", weights_source)
    out = tmp_path / "gpu" / "cpu.json"
    rc = gc.main(["--cpu-smoke", "--parts", "models", "--models", "mtl,mtinet", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    report = json.loads(out.read_text())
    assert asked and all(gc_weights_none(real, p) for p in asked)  # no pretrained weights asked for
    assert report["schema"] == gc.SCHEMA and report["complete"] is True and report["cpu_smoke"] is True
    assert report["errors"] == [] and report["notes"] == []
    assert report["device"]["type"] == "cpu"
    assert set(report["versions"]) >= {"torch", "cuda", "cudnn", "python", "mtbench", "git_commit"}
    assert report["versions"]["torch"] == torch.__version__
    settings = report["settings"]
    assert settings["input_size"] == [64, 96] and settings["batch"] == 2 and settings["modes"] == ["fp32", "bf16"]
    assert settings["iters"] == 2 and settings["warmup"] == 1 and settings["cudnn"]["benchmark"] is False
    assert report["torchrun"] is None and report["e2e"] is None  # not asked for
    assert [e["label"] for e in report["models"]] == ["mtl", "mtinet"]
    for e in report["models"]:
        assert e["error"] is None and e["tasks"] == ["semseg", "depth"] and e["aux_tasks"] == []
        assert e["backbone"] == "hrnet18"
        cfg = build_config(gc.RECIPE, [f"model.name={e['model']}", "data.train_size=[64,96]"])
        ref = profile_config(cfg)  # what `mtbench profile` reports for the model at that size
        assert e["gmacs"] == ref["gmacs"] and e["params"] == ref["params"]
        assert set(e["modes"]) == {"fp32", "bf16"}
        for m in e["modes"].values():
            assert m["forward_ms"] > 0 and m["train_step_ms"] > 0 and m["train_images_per_s"] > 0
            assert len(m["forward_ms_all"]) == len(m["train_step_ms_all"]) == 2
            assert m["train_peak_mib"] is None  # CPU: no CUDA peak
    assert "mtinet" in printed and "report:" in printed
    # results/gpu/ holds reports, not records: the results readers skip it
    assert load_records(tmp_path) == []


def gc_weights_none(weights_source, pretrained) -> bool:
    hub, local = weights_source(pretrained)
    return not hub and local is None


def test_budget_skips_with_notes(gc, tmp_path):
    s = gc.Settings(
        device=torch.device("cpu"),
        smoke=True,
        models=["mtl"],
        modes=["fp32"],
        batch=1,
        size=(64, 64),
        warmup=0,
        iters=1,
        budget_s=0,
        run_timeout_s=10,
        parts=["models"],
        cudnn_benchmark=False,
    )
    notes: list[str] = []
    entries = gc.run_models(s, deadline=0.0, notes=notes)
    assert entries == [{"label": "mtl", "model": "mtl", "backbone": "hrnet18", "skipped": "budget spent"}]
    assert notes == ["mtl: skipped, --budget-s 0 spent"]
    assert "budget spent" in gc.table({"settings": {"modes": ["fp32"]}, "models": entries})


def test_cpu_smoke_runs(gc, tmp_path):
    """Both runs as the check starts them: torchrun (1 process, distributed with gloo) and the bf16 run on CPU."""
    out = tmp_path / "runs.json"
    # the runs' 120 s default is a GPU guard; on CPU under `pytest -n 2` on 2 cores the bf16 run took longer
    rc = gc.main(["--cpu-smoke", "--parts", "torchrun,e2e", "--run-timeout-s", "480", "--out", str(out)])
    report = json.loads(out.read_text())
    assert rc == 0, report["errors"]
    assert report["models"] is None
    tr = report["torchrun"]
    assert tr["rc"] == 0 and tr["error"] is None and tr["wall_s"] > 0
    assert tr["backend"] == "gloo" and tr["nccl_version"] is None and tr["distributed"] is True
    assert "torch.distributed.run --standalone --nproc_per_node 1 -m mtbench run --device cpu" in tr["cmd"]
    rec = tr["record"]
    assert rec["model"] == "mtl" and set(rec["metrics"]) == {"semseg", "depth"}
    assert rec["primary"]["semseg"] == rec["metrics"]["semseg"]["mIoU"]
    e2e = report["e2e"]
    assert e2e["rc"] == 0 and e2e["error"] is None and "train.amp=bf16" in e2e["cmd"]
    assert e2e["record"]["timings"]["total"] > 0 and e2e["record"]["cost"]["gmacs"] > 0


def test_one_process_is_distributed_only_when_asked(monkeypatch):
    """torchrun with one process: no process group unless MTBENCH_DISTRIBUTED=1 (the torchrun part sets it)."""
    from mtbench.engine.runtime import DISTRIBUTED_ENV, DistInfo, init_distributed

    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv(DISTRIBUTED_ENV, raising=False)
    assert init_distributed("cpu") == DistInfo() and not DistInfo().enabled
    monkeypatch.setenv(DISTRIBUTED_ENV, "0")
    assert not init_distributed("cpu").enabled
    assert DistInfo(initialised=True).enabled and DistInfo(world_size=2).enabled
