"""``train.compile``: torch.compile of the training forward (evaluation, weights and checkpoints stay eager);
not part of the config hash (like run.device it changes rounding, not the experiment)."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import tiny_overrides

from mtbench.config import build_config
from mtbench.engine.run import run_experiment


def test_compile_is_off_by_default_and_not_hashed():
    off = build_config(None, [])
    on = build_config(None, ["train.compile=true"])
    assert off.train.compile is False and on.train.compile is True
    assert on.hash() == off.hash()


def test_compile_switch_compiles_the_training_forward_only(tmp_path, monkeypatch):
    """torch.compile with the 'eager' backend (Dynamo captures the training forward, graph breaks and guards
    included, without Inductor's code generation), through a spy: called once, on the training module; the run
    completes; the checkpoint's weights carry no ``_orig_mod.`` prefix (saved from the eager model) and the record
    keeps compile: true."""
    seen: list[torch.nn.Module] = []
    compile_ = torch.compile

    def spy(module, *args, **kwargs):
        seen.append(module)
        return compile_(module, backend="eager")

    monkeypatch.setattr(torch, "compile", spy)
    cfg = build_config(None, tiny_overrides(tmp_path, **{"model.name": "mtl", "train.compile": "true"}))
    ((record, _),) = run_experiment(cfg)
    assert record.status == "complete" and record.config["train"]["compile"] is True
    assert len(seen) == 1 and type(seen[0]).__name__ == "HardSharingNet"
    ck = torch.load(tmp_path / "runs" / record.id / "checkpoint.pt", weights_only=True)
    assert not any(k.startswith("_orig_mod.") for k in ck["model"])


@pytest.mark.skipif(
    os.environ.get("MTBENCH_TEST_COMPILE") != "1",
    reason="Inductor compiles HRNet's training step for minutes on a CPU; set MTBENCH_TEST_COMPILE=1 to run it",
)
def test_tiny_run_with_torch_compile_on_cpu(tmp_path):
    cfg = build_config(None, tiny_overrides(tmp_path, **{"model.name": "mtl", "train.compile": "true"}))
    ((record, _),) = run_experiment(cfg)
    assert record.status == "complete" and record.metrics["semseg"]["mIoU"] >= 0
