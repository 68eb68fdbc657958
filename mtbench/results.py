"""RunRecord schema (DESIGN.md) and the results store: one JSON per run, written atomically."""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mtbench.errors import RecordError

SCHEMA_VERSION = 1


class Cost(BaseModel):
    """Cost of one model. Convention: params raw count; gmacs = fvcore count (one multiply-add = one MAC)
    / 1e9 at ``input_size`` (H, W), batch 1; peak_mem_mb in MiB of ``mem_kind``
    ('cuda_max_allocated_train' or 'cpu_peak_rss'); latency_ms median inference latency on ``device``."""

    model_config = ConfigDict(extra="forbid")
    params: int | None = None
    gmacs: float | None = None
    input_size: tuple[int, int] | None = None
    peak_mem_mb: float | None = None
    mem_kind: str | None = None
    latency_ms: float | None = None
    device: str | None = None
    unsupported_ops: dict[str, int] = Field(default_factory=dict)


class Env(BaseModel):
    model_config = ConfigDict(extra="allow")
    torch: str | None = None
    cuda: str | None = None
    gpu: str | None = None
    cpu: str | None = None
    python: str | None = None
    mtbench: str | None = None
    git_commit: str | None = None


class DeltaM(BaseModel):
    """Δm in percent vs the single-task baselines whose record ids are listed per task."""

    model_config = ConfigDict(extra="forbid")
    value: float | None = None
    baselines: dict[str, list[str]] = Field(default_factory=dict)
    note: str = ""


class RunRecord(BaseModel):
    """One run's result. ``source='reported'`` records copy a paper's numbers and need ``citation``."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION
    id: str
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    status: Literal["complete", "failed", "running"] = "complete"
    model: str
    backbone: str
    dataset: str
    split: str = "val"
    tasks: list[str]
    aux_tasks: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    config_hash: str = ""
    seed: int | None = None
    checkpoint: str | None = None
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    primary: dict[str, float | None] = Field(default_factory=dict)
    delta_m: DeltaM | None = None
    cost: Cost = Field(default_factory=Cost)
    env: Env = Field(default_factory=Env)
    source: Literal["measured", "reported"] = "measured"
    citation: str | None = None
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "RunRecord":
        if self.source == "reported" and not self.citation:
            raise ValueError("a 'reported' record needs a citation")
        if not self.tasks:
            raise ValueError("'tasks' is empty")
        return self


def record_path(root: Path, record: RunRecord) -> Path:
    """``<root>/<dataset>/<model>/<id>.json``."""
    return Path(root) / record.dataset / record.model / f"{record.id}.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: temp file in the same folder, fsync, rename.
    Readers see either the old file or the complete new one, never a partial file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise RecordError(f"{path}: cannot write ({e.strerror or e})") from e
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise RecordError(f"{path}: cannot write ({e.strerror or e})") from e


def save_record(record: RunRecord, root: Path | str = "results") -> Path:
    """Validate and write one record atomically; returns its path."""
    path = record_path(Path(root), record)
    atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
    return path


def load_record(path: Path | str) -> RunRecord:
    """Read and validate one record; any problem is a one-line RecordError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RecordError(f"{path}: cannot read ({e.strerror or e})") from e
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from e
    try:
        return RunRecord.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        raise RecordError(f"{path}: invalid record: {loc}: {err['msg']}") from e


def iter_record_paths(root: Path | str) -> list[Path]:
    """All record files under ``root`` (sorted; hidden temp files skipped)."""
    root = Path(root)
    if not root.exists():
        raise RecordError(f"{root}: results folder does not exist")
    return sorted(p for p in root.rglob("*.json") if not p.name.startswith("."))


def load_records(root: Path | str) -> list[RunRecord]:
    """Load every record under ``root``; a malformed one raises (never silently skipped)."""
    return [load_record(p) for p in iter_record_paths(root)]
