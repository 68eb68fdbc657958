"""RunRecord schema (DESIGN.md) and the results store: one JSON per run, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from mtbench._testhooks import kill_point
from mtbench.errors import RecordError

if TYPE_CHECKING:
    from mtbench.config import RunConfig

SCHEMA_VERSION = 1

# Size limits: records come from other people too, and a crafted one must not blow up 'mtbench table'.
# Real records are a few KiB (names < 100 characters, notes < 300, tens of metrics per task).
MAX_RECORD_BYTES = 1 << 20
MAX_NAME = 256  # ids, model / dataset / task / metric names, dict keys
MAX_BACKBONE = 512  # backbone specs (mmseg:<config path>,key=value...)
MAX_TEXT = 4096  # notes, citation, protocol values, environment strings
MAX_ITEMS = 256  # tasks, protocol entries, environment fields
MAX_NOTES = 10_000
MAX_METRICS = 1024  # metrics per task, baselines per task
MAX_REPLICATES = 10_000  # bootstrap replicates per task (a record holds 1000 per task)
MAX_CONFIG_VALUES = 20_000
MAX_CONFIG_DEPTH = 32
MAX_CURVE_POINTS = 1000  # a learning curve's points in a record (the engine thins longer curves evenly)
CURVE_CSV = "curve.csv"  # a run folder's learning curve, every point with all its metrics (mtbench.engine.trainer)
Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]


def check_json_size(value: Any, max_values: int = MAX_CONFIG_VALUES, max_depth: int = MAX_CONFIG_DEPTH) -> Any:
    """``value`` (JSON data) unchanged, or ValueError when it nests deeper than ``max_depth``, holds more than
    ``max_values`` values, or a string longer than MAX_TEXT."""
    n, stack = 0, [(value, 1)]
    while stack:
        x, depth = stack.pop()
        n += 1
        if n > max_values:
            raise ValueError(f"more than {max_values} values")
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        if isinstance(x, str) and len(x) > MAX_TEXT:
            raise ValueError(f"a string of {len(x)} characters (at most {MAX_TEXT})")
        if isinstance(x, dict):
            stack.extend((k, depth + 1) for k in x)
            stack.extend((v, depth + 1) for v in x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend((v, depth + 1) for v in x)
    return value


class Cost(BaseModel):
    """Cost of one model. Convention: params raw count; gmacs = fvcore count (one multiply-add = one MAC)
    / 1e9 at ``input_size`` (H, W), batch 1; peak_mem_mb in MiB of ``mem_kind``
    ('cuda_max_allocated_train' or 'cpu_peak_rss'); latency_ms median inference latency on ``device``."""

    model_config = ConfigDict(extra="forbid")
    params: int | None = None
    gmacs: float | None = None
    input_size: tuple[int, int] | None = None
    peak_mem_mb: float | None = None
    mem_kind: Name | None = None
    latency_ms: float | None = None
    device: Text | None = None
    unsupported_ops: dict[Name, int] = Field(default_factory=dict, max_length=MAX_METRICS)


class Env(BaseModel):
    model_config = ConfigDict(extra="allow")
    torch: Text | None = None
    cuda: Text | None = None
    gpu: Text | None = None
    cpu: Text | None = None
    python: Text | None = None
    mtbench: Text | None = None
    git_commit: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if len(data) > MAX_ITEMS:
                raise ValueError(f"more than {MAX_ITEMS} fields")
            check_json_size(data, max_values=4 * MAX_ITEMS, max_depth=4)
        return data


class DeltaM(BaseModel):
    """Δm in percent vs the single-task baselines whose record ids are listed per task."""

    model_config = ConfigDict(extra="forbid")
    value: float | None = None
    baselines: dict[Name, Annotated[list[Name], Field(max_length=MAX_METRICS)]] = Field(
        default_factory=dict, max_length=MAX_ITEMS
    )
    note: Text = ""


class CurvePoint(BaseModel):
    """One point of a learning curve: after ``iteration`` optimiser steps (``epoch`` = iterations / iterations
    per epoch; ``images`` training images seen, all processes), the main tasks' primary metrics on the curve's
    evaluation subset, the mean total training loss over the iterations since the previous point (None at
    iteration 0) and the training wall seconds so far (resumed parts included, evaluations excluded)."""

    model_config = ConfigDict(extra="forbid")
    iteration: int = Field(ge=0)
    epoch: float | None = None
    images: int = Field(ge=0)
    loss: float | None = None
    seconds: float | None = None
    primary: dict[Name, float | None] = Field(default_factory=dict, max_length=MAX_ITEMS)


class Curve(BaseModel):
    """A run's learning curve (``eval.every_iters``): points at iteration 0, every ``every_iters`` iterations and
    at the end of training, each measured on the first ``eval_images`` images of ``split`` (the same images for
    every point; the record's ``metrics`` are the final evaluation on the whole split)."""

    model_config = ConfigDict(extra="forbid")
    split: Name
    eval_images: int = Field(ge=0)
    every_iters: int = Field(ge=1)
    points: list[CurvePoint] = Field(default_factory=list, max_length=MAX_CURVE_POINTS)

    @field_validator("points")
    @classmethod
    def _increasing(cls, v: list[CurvePoint]) -> list[CurvePoint]:
        its = [p.iteration for p in v]
        if any(b <= a for a, b in zip(its, its[1:])):
            raise ValueError("curve points must have increasing iterations")
        return v


class Bootstrap(BaseModel):
    """A bootstrap over the evaluated images of one task's primary metric (``mtbench.metrics.bootstrap``):
    ``replicates[b]`` is ``metric`` computed on the b-th resample of the ``n_images`` images, the resamples being
    ``resample_indices(n_images, len(replicates), seed)`` (images in the split's order). They depend only on
    those three numbers, so records with the same n_images and seed pair up replicate by replicate (a paired
    bootstrap of Δm). Replicates are rounded to 6 significant digits."""

    model_config = ConfigDict(extra="forbid")
    metric: Name
    n_images: int = Field(ge=1)
    seed: int = Field(ge=0)
    replicates: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(min_length=1, max_length=MAX_REPLICATES)


FLOOR_MODEL = "constant"
"""``model`` of a constant-predictor floor record (written by ``scripts/constant_baseline.py``, see
``mtbench.constant``): the page quotes it beside its dataset's measured rows; it is never a leaderboard row, a
Δm baseline or a run that ``mtbench check`` compares."""


class RunKey(NamedTuple):
    """Which run wrote a record: model, seed and config hash ("" when the record has none). The hash covers the
    whole experiment (recipe, model options, data, tasks, seed; not paths, device or verbosity), so the same
    experiment run elsewhere has the same key, and a planned run's key is known before it runs (``of_config``)."""

    model: str
    seed: int | None
    config_hash: str

    @classmethod
    def of_config(cls, cfg: RunConfig) -> RunKey:
        """The key of the record that a run of ``cfg`` writes (as ``mtbench run`` fills model, seed and hash)."""
        return cls(cfg.model.name, cfg.run.seed, cfg.hash())


class RecordKey(NamedTuple):
    """A record's identity (``RunRecord.key``): the run that wrote it (:class:`RunKey`) and what it measured.
    With a config hash the run part fixes everything here but the split (``mtbench eval --split`` evaluates a
    checkpoint on another one); without one (hand-written or older records) the other fields tell runs apart."""

    model: str
    seed: int | None
    config_hash: str
    model_options: str  # config['model']['kwargs'] as sorted JSON
    dataset: str
    split: str
    backbone: str
    tasks: tuple[str, ...]
    aux_tasks: tuple[str, ...]
    input_size: tuple[int, int] | None

    @property
    def run(self) -> RunKey:
        """The run part, what ``sweep`` skips by and ``reproduce`` looks records up by."""
        return RunKey(self.model, self.seed, self.config_hash)


class RunRecord(BaseModel):
    """One run's result. ``source='reported'`` records copy a paper's numbers and need ``citation``."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION
    id: Name
    created: Name = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    status: Literal["complete", "failed", "running"] = "complete"
    model: Name
    backbone: Annotated[str, StringConstraints(max_length=MAX_BACKBONE)]
    dataset: Name
    split: Name = "val"
    tasks: list[Name] = Field(max_length=MAX_ITEMS)
    aux_tasks: list[Name] = Field(default_factory=list, max_length=MAX_ITEMS)
    config: dict[str, Any] = Field(default_factory=dict)
    config_hash: Name = ""
    seed: int | None = None
    checkpoint: Text | None = None
    metrics: dict[Name, Annotated[dict[Name, float | None], Field(max_length=MAX_METRICS)]] = Field(
        default_factory=dict, max_length=MAX_ITEMS
    )
    primary: dict[Name, float | None] = Field(default_factory=dict, max_length=MAX_ITEMS)
    delta_m: DeltaM | None = None
    cost: Cost = Field(default_factory=Cost)
    # wall seconds per phase of the run that wrote it (mtbench.engine.run.run_timings), on env's machine
    timings: dict[Name, float] = Field(default_factory=dict, max_length=MAX_METRICS)
    curve: Curve | None = None  # learning curve (eval.every_iters > 0); records without one load as None
    env: Env = Field(default_factory=Env)
    source: Literal["measured", "reported"] = "measured"
    citation: Text | None = None
    protocol: dict[Name, Text] = Field(default_factory=dict, max_length=MAX_ITEMS)  # mtbench.protocol
    # {task: bootstrap of its primary metric over the images}; absent from older records and distributed runs
    bootstrap: dict[Name, Bootstrap] = Field(default_factory=dict, max_length=MAX_ITEMS)
    notes: list[Text] = Field(default_factory=list, max_length=MAX_NOTES)
    _path: Path | None = PrivateAttr(default=None)
    _origin: str = PrivateAttr(default="")

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not v or v.startswith(".") or "/" in v or "\\" in v:
            raise ValueError(f"id {v!r} must be non-empty, not start with '.', and contain no path separators")
        return v

    @field_validator("config")
    @classmethod
    def _config_size(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_json_size(v)

    @model_validator(mode="after")
    def _check(self) -> RunRecord:
        if self.source == "reported" and not self.citation:
            raise ValueError("a 'reported' record needs a citation")
        if not self.tasks:
            raise ValueError("'tasks' is empty")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"'tasks' has duplicates: {self.tasks}")
        overlap = set(self.tasks) & set(self.aux_tasks)
        if overlap:
            raise ValueError(f"tasks {sorted(overlap)} are both main and auxiliary")
        stray = sorted(set(self.bootstrap) - set(self.tasks))
        if stray:
            raise ValueError(f"'bootstrap' of tasks {stray} that are not in 'tasks'")
        return self

    @property
    def path(self) -> Path | None:
        """The file this record was loaded from or saved to (None for an in-memory record)."""
        return self._path

    @property
    def origin(self) -> str:
        """The labelled sub-tree of the results folder it was loaded from (ORIGINS: ``local``, a user's own runs;
        ``budget``, the budget study), or ""; set by :func:`load_records`."""
        return self._origin

    @property
    def where(self) -> str:
        """The record's file for messages, or ``record '<id>'`` when it has none."""
        return str(self._path) if self._path is not None else f"record '{self.id}'"

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """The model's constructor options as stored by the engine (``config['model']['kwargs']``), or {}."""
        model = self.config.get("model") if isinstance(self.config, dict) else None
        kwargs = model.get("kwargs") if isinstance(model, dict) else None
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    @property
    def is_floor(self) -> bool:
        """True for a constant-predictor floor record (``model == FLOOR_MODEL``), not a model's run."""
        return self.model == FLOOR_MODEL

    @property
    def key(self) -> RecordKey:
        """This record's identity (:class:`RecordKey`): what ``mtbench check`` matches a measured record with its
        reference by; its ``run`` part what ``sweep`` and ``reproduce`` look finished runs up by."""
        options = json.dumps(self.model_kwargs, sort_keys=True, default=str)
        return RecordKey(
            self.model,
            self.seed,
            self.config_hash,
            options,
            self.dataset,
            self.split,
            self.backbone,
            tuple(self.tasks),
            tuple(self.aux_tasks),
            self.cost.input_size,
        )


def record_path(root: Path, record: RunRecord) -> Path:
    """``<root>/<dataset>/<model>/<id>.json``."""
    return Path(root) / record.dataset / record.model / f"{record.id}.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: temp file in the same folder, fsync, rename.
    Readers see either the old file or the complete new one, never a partial file."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (as :func:`atomic_write_text`)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise RecordError(f"{path}: cannot write ({e.strerror or e})") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.suffix == ".json":
            kill_point("record")  # test hook (no-op unless MTBENCH_TEST_KILL_AT is set)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise RecordError(f"{path}: cannot write ({e.strerror or e})") from e


def check_writable(folder: Path | str) -> None:
    """Create ``folder`` if needed and prove a file can be written in it (before hours of training);
    a RecordError naming the folder otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise RecordError(f"results folder '{folder}' is not writable ({e.strerror or e})") from e


def remove_stale_temps(folder: Path | str, prefix: str = "") -> list[Path]:
    """Delete temp files ``.<prefix>*.tmp`` left in ``folder`` by a killed writer; returns them.
    Only call it with a prefix that no live process can be writing (e.g. a resumed run's own files)."""
    out = []
    for p in Path(folder).glob(f".{prefix}*.tmp"):
        try:
            p.unlink()
            out.append(p)
        except OSError:
            pass
    return out


def save_record(record: RunRecord, root: Path | str = "results") -> Path:
    """Validate and write one record atomically; returns its path."""
    path = record_path(Path(root), record)
    write_record(record, path)
    return path


def write_record(record: RunRecord, path: Path | str) -> Path:
    """Write ``record`` atomically to an explicit ``path`` (e.g. back to the file it came from)."""
    path = Path(path)
    atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
    record._path = path
    return path


def load_record(path: Path | str) -> RunRecord:
    """Read and validate one record; any problem is a one-line RecordError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_RECORD_BYTES:
            raise RecordError(f"{path}: invalid record: {size} bytes (a record is at most {MAX_RECORD_BYTES})")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RecordError(f"{path}: cannot read ({e.strerror or e})") from e
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from e
    except UnicodeDecodeError as e:
        raise RecordError(f"{path}: malformed JSON (not UTF-8: {e.reason} at byte {e.start})") from e
    except (ValueError, RecursionError) as e:  # e.g. an integer of 5000 digits, arrays nested 100000 deep
        raise RecordError(f"{path}: invalid record: {type(e).__name__}: {' '.join(str(e).split())[:200]}") from e
    if not isinstance(data, dict):
        raise RecordError(f"{path}: invalid record: expected a JSON object, got {type(data).__name__}")
    try:
        record = RunRecord.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        msg = " ".join(str(err["msg"]).split())  # one line
        raise RecordError(f"{path}: invalid record: {loc}: {msg}") from e
    record._path = path
    return record


GPU_DIR = "gpu"
"""scripts/gpu_check.py's reports (``results/gpu/<gpu>.json``): timings of a GPU, not run records."""
# Sub-folders of a results folder that hold something other than leaderboard records.
EXCLUDED_DIRS: tuple[str, ...] = ("reference", GPU_DIR)
LOCAL_DIR = "local"
"""Where ``mtbench run`` writes by default (``results/local/``, git-ignored): a user's own runs, shown by
``mtbench table`` beside the committed records, labelled, and never read by the committed page."""
BUDGET_DIR = "budget"
"""The budget study's records (``results/budget/``): the page draws them as a plot, not as table rows."""
ORIGINS = (LOCAL_DIR, BUDGET_DIR)
"""Sub-trees of a results folder whose records are labelled with their origin (``RunRecord.origin``)."""


def benchmark_config(r: RunRecord) -> dict[str, Any]:
    """``r.config`` without the fields naming its model and seed and those the config hash leaves out: records
    with equal ones ran the same benchmark (records differing only in what the hash ignores ran the same
    experiment). Single-task records keep their task: see the leaderboard and page for how they join."""
    from mtbench.config import experiment_fields

    return experiment_fields(r.config, RUN_FIELDS)


RUN_FIELDS = (("model", "name"), ("model", "kwargs"), ("run", "seed"))
"""Stored config fields that name a run's model and seed rather than the benchmark it ran."""


def iter_record_paths(root: Path | str, exclude: Sequence[str] = ()) -> list[Path]:
    """All ``*.json`` files under ``root`` (sorted), or ``[root]`` when it is a file. Hidden files and
    folders and any folder named in ``exclude`` (below ``root``) are skipped; other files (PNG, MD) ignored."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.exists():
        raise RecordError(f"{root}: results folder does not exist")
    if not root.is_dir():
        raise RecordError(f"{root}: not a file or folder")
    out = []
    for p in root.rglob("*.json"):
        parts = p.relative_to(root).parts
        if any(x.startswith(".") for x in parts) or any(x in exclude for x in parts[:-1]):
            continue
        out.append(p)
    return sorted(out)


def load_records(root: Path | str, exclude: Sequence[str] = EXCLUDED_DIRS) -> list[RunRecord]:
    """Load every record under ``root`` (a folder, or one file); a malformed one raises a one-line
    RecordError naming the file (never silently skipped), and so does an id used by two files.
    ``exclude`` names sub-folders to skip (default: ``reference/``, CI reference records)."""
    records = []
    for p in iter_record_paths(root, exclude):
        r = load_record(p)
        parts = p.relative_to(root).parts if Path(root).is_dir() else ()
        r._origin = parts[0] if len(parts) > 3 and parts[0] in ORIGINS else ""
        records.append(r)
    seen: dict[str, RunRecord] = {}
    for r in records:
        if r.id in seen:
            raise RecordError(f"{r.where}: duplicate record id '{r.id}' (also in {seen[r.id].where})")
        seen[r.id] = r
    return records
