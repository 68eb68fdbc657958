"""Shared fixtures: tiny synthetic settings so end-to-end runs take seconds."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread_torch():
    """Tests run in parallel (pytest -n 2 on 2 cores): one torch thread each avoids oversubscription."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Path]]:
    """``module_tmp(name)``: a folder for a module's shared runs, removed once the module's tests are done.

    Tiny runs still write full checkpoints (50-170 MB with HRNet-18 and its Adam state); kept to the end of the
    session, as ``tmp_path_factory`` folders are, the suite's runs would take about 6 GB of disk (a function's
    ``tmp_path`` goes when its test passes: ``tmp_path_retention_policy`` in pyproject.toml)."""
    made: list[Path] = []

    def mktemp(name: str) -> Path:
        made.append(tmp_path_factory.mktemp(name))
        return made[-1]

    yield mktemp
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def tiny_overrides(tmp_path, **extra) -> list[str]:
    """--set items for a tiny synthetic run writing into ``tmp_path``."""
    items = {
        "data.n_train": 8,
        "data.n_val": 4,
        "data.train_size": "[64,64]",
        "train.epochs": 1,
        "train.batch_size": 4,
        "eval.batch_size": 4,
        "run.quiet": "true",
        "run.profile": "false",
        "run.results": str(tmp_path / "results"),
        "run.runs_dir": str(tmp_path / "runs"),
    }
    items.update(extra)
    return [f"{k}={v}" for k, v in items.items()]


def one_line_error(argv: list[str], capsys, code: int = 1, pattern: str | None = None) -> str:
    """Run the CLI on ``argv``; assert it exits with ``code`` and one stderr line 'error: ...' (no traceback)
    matching ``pattern``; return that line."""
    import re

    import pytest

    from mtbench.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert e.value.code == code, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    if pattern is not None:
        assert re.search(pattern, lines[0]), lines[0]
    return lines[0]
