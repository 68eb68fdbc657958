"""Checkpoints written atomically (temp file + fsync + rename) into the run folder."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from mtbench._testhooks import kill_point
from mtbench.errors import MtbenchError


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` with torch.save so that ``path`` is either the old or the complete new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        kill_point("checkpoint")  # test hook (no-op unless MTBENCH_TEST_KILL_AT is set)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint saved by ``save_checkpoint`` (on CPU); one-line error if unreadable."""
    path = Path(path)
    if not path.exists():
        raise MtbenchError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated/corrupt files raise various errors from deep inside torch
        raise MtbenchError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from e
