"""Bad input catalogue: every bad input across the CLI, config, data and records gives exit code != 0,
one line naming the problem and the file or option, no traceback (``--debug`` shows it), and leaves
the existing results untouched."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line_error, tiny_overrides
from PIL import Image

from mtbench.cli import main
from mtbench.data import write_synthetic
from mtbench.reporting.results import RunRecord, save_record


@dataclass
class Ctx:
    tmp: Path
    data: Path  # a fresh copy of a valid synthetic dataset folder (NYUD layout)
    results: Path  # an existing results folder that must stay untouched

    def run(self, *args: str, **sets) -> list[str]:
        """``mtbench run`` of a tiny mtl setting writing into ``results``, plus ``args``."""
        over = tiny_overrides(self.tmp, **{"run.results": str(self.results), **sets})
        return [
            "run",
            "--model",
            "mtl",
            "--tasks",
            "semseg,depth",
            "--aux-tasks",
            "none",
            *sum((["--set", s] for s in over), []),
            *args,
        ]

    def train_ids(self) -> list[str]:
        return (self.data / "gt_sets" / "train.txt").read_text().split()

    def each_train(self, folder: str, ext: str, fn: Callable[[Path], None]) -> Path:
        """Apply ``fn`` to the ``folder`` file of every training sample; returns the first file."""
        paths = [self.data / folder / f"{i}{ext}" for i in self.train_ids()]
        for p in paths:
            fn(p)
        return paths[0]


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Ctx], list[str]]  # prepares the bad input, returns the argv
    code: int  # expected exit code
    pattern: str  # regex the one error line must match (names the file or option)
    debug: bool = True  # also check that --debug raises (shows the traceback)


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def _npy(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    return lambda p: np.save(p, fn(np.load(p)))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _labels_200(p: Path) -> None:
    Image.fromarray(np.full_like(np.asarray(Image.open(p)), 200)).save(p)


def _with_nan(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[0, 0] = np.nan
    return a


def _corrupt_images(c: Ctx) -> None:
    c.each_train("images", ".jpg", lambda p: p.write_bytes(b"this is not a JPEG"))


def _ghost_sample(c: Ctx) -> list[str]:
    split = c.data / "gt_sets" / "train.txt"
    split.write_text(split.read_text() + "ghost_sample\n")
    return c.run("--data-root", str(c.data))


def _pretrained(c: Ctx, payload: object) -> list[str]:
    path = c.tmp / "imagenet.pth"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        torch.save(payload, path)
    return c.run("--pretrained", str(path))


def _readonly_results(c: Ctx) -> list[str]:
    if os.geteuid() == 0:
        pytest.skip("root can write into a read-only folder")
    ro = c.tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return c.run(**{"run.results": str(ro)})


def _run_folder_with_corrupt_checkpoint(c: Ctx) -> list[str]:
    from mtbench.config import build_config, dump_yaml

    run_dir = c.tmp / "runs" / "broken-run"
    cfg = build_config(
        None, tiny_overrides(c.tmp, **{"run.results": str(c.results), "model.name": "mtl", "data.aux_tasks": "[]"})
    )
    _write(run_dir / "config.yaml", dump_yaml(cfg))
    _write(run_dir / "checkpoint.pt", b"\x80\x02 half a checkpoint")
    return ["run", "--resume", str(run_dir)]


def _disk_full(c: Ctx, monkeypatch) -> list[str]:
    """ENOSPC from fsync while a record (``*.json``) is written; checkpoints and config are written fine."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if ".json." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return c.run(**{"run.results": str(c.tmp / "results_disk")})


CASES = [
    # ---- data -------------------------------------------------------------------------------------
    Case(
        "missing-dataset-root",
        lambda c: c.run("--data-root", str(c.tmp / "no_such_dir")),
        1,
        r"Dataset root '.*no_such_dir' does not exist",
    ),
    Case(
        "empty-dataset-root",
        lambda c: (c.tmp / "empty").mkdir() or c.run("--data-root", str(c.tmp / "empty")),
        1,
        r"Missing split file '.*empty/gt_sets/train\.txt'",
    ),
    Case(
        "corrupt-image",
        lambda c: _corrupt_images(c) or c.run("--data-root", str(c.data)),
        1,
        r"Corrupt or unreadable image '.*images/synthetic_train_\d+\.jpg'",
    ),
    Case(
        "corrupt-image-in-dataloader-worker",
        lambda c: _corrupt_images(c) or c.run("--data-root", str(c.data), **{"data.workers": 1}),
        1,
        r"Corrupt or unreadable image '.*images/synthetic_train_\d+\.jpg'.*\(in a DataLoader worker\)$",
    ),
    Case(
        "truncated-npy",
        lambda c: c.each_train("depth", ".npy", _truncate) and c.run("--data-root", str(c.data)),
        1,
        r"Corrupt or unreadable array '.*depth/synthetic_train_\d+\.npy'",
    ),
    Case(
        "label-out-of-range",
        lambda c: c.each_train("segmentation", ".png", _labels_200) and c.run("--data-root", str(c.data)),
        1,
        r"Label out of range in '.*segmentation/synthetic_train_\d+\.png': semseg values \[199\] not in 0\.\.9",
    ),
    Case(
        "image-label-size-mismatch",
        lambda c: c.each_train("depth", ".npy", _npy(lambda a: a[:32, :32])) and c.run("--data-root", str(c.data)),
        1,
        r"Size mismatch in '.*depth/synthetic_train_\d+\.npy': depth is 32x32, image '.*\.jpg' is 64x64",
    ),
    Case(
        "split-names-missing-sample",
        _ghost_sample,
        1,
        r"Split file '.*gt_sets/train\.txt' names sample 'ghost_sample' but '.*images/ghost_sample\.jpg' is missing",
    ),
    Case(
        "nan-in-data",
        lambda c: c.each_train("depth", ".npy", _npy(_with_nan)) and c.run("--data-root", str(c.data)),
        1,
        r"Depth in '.*depth/synthetic_train_\d+\.npy' has non-finite values",
    ),
    # ---- names ------------------------------------------------------------------------------------
    Case("unknown-model", lambda c: c.run("--model", "mtinte"), 2, r"Unknown model 'mtinte'; did you mean 'mtinet'\?"),
    Case(
        "unknown-task", lambda c: c.run("--tasks", "semseg,dpeth"), 2, r"Unknown task 'dpeth'; did you mean 'depth'\?"
    ),
    Case("unknown-backbone", lambda c: c.run("--backbone", "hrnet19"), 2, r"Unknown backbone 'hrnet19'"),
    Case("unknown-dataset", lambda c: c.run("--dataset", "nyu"), 2, r"Unknown dataset 'nyu'; did you mean 'nyud'\?"),
    Case(
        "task-not-in-dataset",
        lambda c: c.run("--dataset", "nyud", "--tasks", "human_parts"),
        2,
        r"Task 'human_parts' is not provided by dataset 'nyud'",
    ),
    # ---- config -----------------------------------------------------------------------------------
    Case(
        "malformed-yaml",
        lambda c: c.run("--config", str(_write(c.tmp / "bad.yaml", "train: [epochs: 3\n"))),
        2,
        r"bad\.yaml: malformed YAML at line \d+",
    ),
    Case(
        "config-file-not-found",
        lambda c: c.run("--config", str(c.tmp / "missing.yaml")),
        2,
        r"--config .*missing\.yaml: file not found",
    ),
    Case(
        "unknown-config-key-in-set",
        lambda c: c.run(**{"train.epochz": 3}),
        2,
        r"--set: unknown config key 'train\.epochz'",
    ),
    Case(
        "unknown-config-key-in-file",
        lambda c: c.run("--config", str(_write(c.tmp / "extra.yaml", "train:\n  epochz: 3\n"))),
        2,
        r"extra\.yaml: unknown config key 'train\.epochz'",
    ),
    Case(
        "wrong-type-in-set",
        lambda c: c.run(**{"train.lr": "fast"}),
        2,
        r"--set: bad value for 'train\.lr': .*\(got 'fast'\)",
    ),
    Case(
        "set-without-equals", lambda c: c.run("--set", "train.epochs"), 2, r"--set 'train\.epochs': expected key=value"
    ),
    Case("wrong-type-option", lambda c: c.run("--epochs", "three"), 2, r"Invalid value for '--epochs'"),
    Case("negative-epochs", lambda c: c.run("--epochs", "-1"), 2, r"bad value for 'train\.epochs': .*must be >= 1"),
    Case(
        "input-size-not-divisible-by-32",
        lambda c: c.run(**{"data.train_size": "[60,64]"}),
        2,
        r"--set data\.train_size=\[60, 64\]: height and width must be divisible by 32",
    ),
    Case("device-cuda-without-cuda", lambda c: c.run("--device", "cuda"), 2, r"--device cuda: CUDA is not available"),
    # ---- checkpoints ------------------------------------------------------------------------------
    Case(
        "pretrained-does-not-match",
        lambda c: _pretrained(c, {"fc.weight": torch.ones(3, 3)}),
        1,
        r"imagenet\.pth: no tensor matches the backbone's parameters",
    ),
    Case(
        "pretrained-not-a-checkpoint",
        lambda c: _pretrained(c, b"<html>404 Not Found</html>"),
        1,
        r"imagenet\.pth: cannot read checkpoint",
    ),
    Case(
        "resume-not-a-run-folder",
        lambda c: (c.tmp / "empty").mkdir() or ["run", "--resume", str(c.tmp / "empty")],
        2,
        r"--resume .*empty: not a run folder \(no config\.yaml\)",
    ),
    Case(
        "resume-corrupt-checkpoint",
        _run_folder_with_corrupt_checkpoint,
        1,
        r"broken-run/checkpoint\.pt: cannot read checkpoint",
    ),
    # ---- results and records ----------------------------------------------------------------------
    Case(
        "results-folder-under-a-file",
        lambda c: c.run(**{"run.results": str(_write(c.tmp / "afile", "x") / "res")}),
        1,
        r"results folder '.*afile/res' is not writable \(Not a directory\)",
    ),
    Case("results-folder-read-only", _readonly_results, 1, r"results folder '.*ro' is not writable"),
    Case(
        "malformed-record-json",
        lambda c: (
            _write(c.results / "synthetic" / "mtl" / "bad.json", '{"id": "x",')
            and ["table", "--results", str(c.results)]
        ),
        1,
        r"bad\.json: malformed JSON \(.* at line 1 column \d+\)",
    ),
    Case(
        "record-missing-fields",
        lambda c: (
            _write(c.results / "synthetic" / "mtl" / "partial.json", '{"id": "x"}')
            and ["table", "--results", str(c.results)]
        ),
        1,
        r"partial\.json: invalid record: model: Field required",
    ),
    Case(
        "reference-missing-for-check",
        lambda c: ["check", "--reference", str(c.tmp / "reference"), "--results", str(c.results)],
        1,
        r"reference.*: reference folder or file does not exist",
    ),
]


@pytest.fixture(scope="module")
def dataset_dir(module_tmp) -> Path:
    out = module_tmp("data") / "synthetic"
    write_synthetic(out, n=8, size=(64, 64), seed=0)
    return out


@pytest.fixture
def ctx(tmp_path, dataset_dir, monkeypatch) -> Ctx:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # keep the test's single torch thread
    data = tmp_path / "data"
    shutil.copytree(dataset_dir, data)
    results = tmp_path / "results"
    rec = RunRecord(
        id="existing-run",
        model="mtl",
        backbone="hrnet18",
        dataset="synthetic",
        tasks=["semseg"],
        metrics={"semseg": {"mIoU": 42.0}},
        primary={"semseg": 42.0},
    )
    save_record(rec, results)
    return Ctx(tmp_path, data, results)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _check_one_line_error(argv: list[str], code: int, pattern: str, capsys) -> str:
    return one_line_error(argv, capsys, code, pattern)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: Ctx, capsys):
    if case.id == "device-cuda-without-cuda" and torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    argv = case.make(ctx)
    before = _snapshot(ctx.results)
    _check_one_line_error(argv, case.code, case.pattern, capsys)
    assert _snapshot(ctx.results) == before
    if case.debug:  # --debug: the exception propagates, so Python prints its traceback
        with pytest.raises(Exception) as e:
            main(["--debug", *argv])
        assert not isinstance(e.value, SystemExit)
        assert _snapshot(ctx.results) == before


def test_disk_full_while_writing_record_keeps_checkpoint_and_results(ctx: Ctx, capsys, monkeypatch):
    """ENOSPC while the record is written: one-line error naming the record file and how to recover; no
    partial or temp file; the checkpoint survives and ``mtbench eval`` writes the record afterwards."""
    before = _snapshot(ctx.results)
    argv = _disk_full(ctx, monkeypatch)
    line = _check_one_line_error(
        argv,
        1,
        r"results_disk/synthetic/mtl/mtl-[^ ]+\.json: cannot write "
        r"\(No space left on device\); the checkpoint is kept: write the record "
        r"later with 'mtbench eval .*runs/mtl-",
        capsys,
    )
    assert _snapshot(ctx.results) == before
    assert not [p for p in (ctx.tmp / "results_disk").rglob("*") if p.is_file()]  # no partial, no temp file
    monkeypatch.undo()
    run_dir = Path(line.split("'mtbench eval ")[1].rstrip("'"))
    main(["eval", str(run_dir)])
    (record,) = (ctx.tmp / "results_disk").rglob("*.json")
    assert json.loads(record.read_text())["id"] == run_dir.name


def test_debug_flag_shows_traceback_in_a_real_process(tmp_path):
    """The console script itself: one line without --debug, the traceback with it."""
    import subprocess
    import sys

    bad = _write(tmp_path / "bad.yaml", "train: [epochs: 3\n")
    cmd = [sys.executable, "-m", "mtbench", "config", "show", str(bad)]
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    debug = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and debug.returncode != 0
    assert plain.stderr.strip().count("\n") == 0 and "bad.yaml: malformed YAML" in plain.stderr
    assert "Traceback (most recent call last)" in debug.stderr and "UsageError" in debug.stderr
