"""Kill and resume: a real ``mtbench run`` process killed at every phase (SIGKILL via the test hook
MTBENCH_TEST_KILL_AT, see mtbench/_testhooks.py) and resumed with ``--resume`` ends with exactly the
metrics of an uninterrupted run, never leaving a corrupt checkpoint or record behind; SIGINT/SIGTERM
save a checkpoint and exit cleanly with a message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_overrides

from mtbench.cli import main
from mtbench.config import build_config
from mtbench.engine.checkpoint import load_checkpoint
from mtbench.engine.run import run_experiment
from mtbench.engine.trainer import Trainer
from mtbench.reporting.results import load_record, load_records

# mtl on 8 training images, batch 4: 2 steps per epoch, 4 in all; checkpoints at both epoch ends and
# after global step 3 (mid-epoch 2).
OVER = {
    "model.name": "mtl",
    "data.tasks": "[semseg,depth]",
    "data.aux_tasks": "[]",
    "train.epochs": 2,
    "train.checkpoint_every_iters": 3,
}


def _mtbench(args: list[str], kill_at: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MTBENCH_TEST_KILL_AT": kill_at, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mtbench", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _sets(items: list[str]) -> list[str]:
    return sum((["--set", s] for s in items), [])


def _state(run_dir: Path) -> tuple[int, int, int]:
    """(epoch, step_in_epoch, global_step) of the run's checkpoint, which must load."""
    st = load_checkpoint(run_dir / "checkpoint.pt")["train_state"]
    return st["epoch"], st["step_in_epoch"], st["global_step"]


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


def _assert_no_records(results: Path) -> None:
    assert not results.exists() or load_records(results) == []  # every visible record loads; there are none


def test_killed_at_every_phase_then_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # in-process runs keep the single torch thread, as the children
    ((full, _),) = run_experiment(build_config(None, tiny_overrides(tmp_path / "ref", **OVER)))

    work = tmp_path / "killed"
    results, runs = work / "results", work / "runs"
    over = tiny_overrides(work, **OVER)

    # 1. SIGKILL after the first step, before any checkpoint exists
    p = _mtbench(["run", *_sets(over)], "step:1", tmp_path)
    assert p.returncode == -signal.SIGKILL, p.stderr
    (run_dir,) = runs.iterdir()
    assert (run_dir / "config.yaml").exists() and not (run_dir / "checkpoint.pt").exists()
    _assert_no_records(results)
    resume = ["run", "--resume", str(run_dir)]

    # 2. resumed (from scratch in the same folder); SIGKILL while writing the second checkpoint (step 3)
    p = _mtbench(resume, "checkpoint:2", tmp_path)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert _state(run_dir) == (1, 0, 2)  # the epoch-1 checkpoint is intact
    assert _temps(run_dir) and all(t.startswith(".checkpoint.pt.") for t in _temps(run_dir))
    assert sorted(runs.iterdir()) == [run_dir]

    # 3. resumed; Ctrl-C (a real SIGINT) after step 3: checkpoint saved, clean exit with a message
    p = _mtbench(resume, "step:1:INT", tmp_path)
    assert p.returncode == 130, p.stderr
    assert p.stderr.strip() == (
        f"interrupted: SIGINT received: checkpoint saved at epoch 2 step 1; "
        f"resume with 'mtbench run --resume {run_dir}'"
    )
    assert _state(run_dir) == (1, 1, 3)
    assert _temps(run_dir) == []  # the killed writer's temp file was cleaned up on resume

    # 4. resumed mid-epoch; SIGKILL at the start of the final evaluation (training is complete)
    p = _mtbench(resume, "eval", tmp_path)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert _state(run_dir) == (2, 0, 4)
    _assert_no_records(results)

    # 5. resumed; SIGKILL while the record is written (temp file complete, not yet renamed)
    p = _mtbench(resume, "record", tmp_path)
    assert p.returncode == -signal.SIGKILL, p.stderr
    _assert_no_records(results)  # the hidden temp file is not taken for a record
    assert [t.startswith(f".{run_dir.name}.json.") for t in _temps(results)] == [True]

    # 6. resumed to the end (in this process): the record equals the uninterrupted run's
    main(["run", "--resume", str(run_dir)])
    (rec,) = load_records(results)
    assert rec.id == run_dir.name and rec.status == "complete"
    assert rec.metrics == full.metrics and rec.primary == full.primary
    assert rec.config_hash == full.config_hash
    assert load_record(run_dir / "record.json").metrics == full.metrics
    assert _temps(results) == [] and _temps(run_dir) == []
    assert _state(run_dir) == (2, 0, 4)
    assert (run_dir / "log.csv").read_text().count("\n") == 3  # header + one row per epoch


def test_sigterm_saves_checkpoint_and_exits_cleanly(tmp_path, monkeypatch, capsys):
    """A real SIGTERM (Slurm pre-emption) during step 1: checkpoint, exit 130, one message, handlers restored."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    orig = Trainer._step

    def step(self, batch, epoch):
        out = orig(self, batch, epoch)
        if self.state.global_step == 0:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(Trainer, "_step", step)
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as e:
        main(["run", *_sets(tiny_overrides(tmp_path, **OVER))])
    assert e.value.code == 130
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert capsys.readouterr().err.strip() == (
        f"interrupted: SIGTERM received: checkpoint saved at epoch 1 step 1; "
        f"resume with 'mtbench run --resume {run_dir}'"
    )
    assert _state(run_dir) == (0, 1, 1)
    assert signal.getsignal(signal.SIGTERM) == handler
    _assert_no_records(tmp_path / "results")
