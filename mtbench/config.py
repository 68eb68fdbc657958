"""Typed experiment config: YAML recipes in mtbench/configs/ (at most one ``base:`` level) + ``--set`` overrides.

The resolved config is stored whole in every record, with a hash of the fields that define the
experiment (paths, device and verbosity excluded).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mtbench.errors import UsageError

log = logging.getLogger(__name__)
TRUST_KEY = "run.trust_checkpoint"
CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIG = "synthetic_default"
# Fields that do not change the experiment's outcome: excluded from the config hash.
NOT_HASHED = {
    ("data", "root"),
    ("data", "workers"),
    ("run", "results"),
    ("run", "runs_dir"),
    ("run", "quiet"),
    ("run", "device"),
    ("run", "tensorboard"),
    ("run", "name"),
    ("run", "trust_checkpoint"),
    # the learning curve is measured in eval mode with the RNG state restored: training is unchanged by it
    ("eval", "every_iters"),
    ("eval", "curve_images"),
    # torch.compile runs the same operations, fused: like run.device it changes rounding, not the experiment
    # (the resolved config, stored whole in the record, still says whether a run was compiled)
    ("train", "compile"),
}
# Fields added after records existed, omitted from the hash at the value that means the behaviour from before
# they existed: an experiment that does not use them keeps the config hash (and the identity) it had.
HASHED_UNLESS = {
    ("data", "seed"): None,
}
# Fields that never change the outcome but were hashed before that was noticed: hashed at this fixed value, so
# every value gives the same hash, and the hashes of existing records stay what they were.
HASHED_AS = {
    ("train", "checkpoint_every_iters"): 0,  # a checkpoint reads the RNG states, it draws nothing
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelCfg(_Section):
    name: str = "mtinet"
    backbone: str = "hrnet18"
    pretrained: str | bool | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)


class DataCfg(_Section):
    dataset: str = "synthetic"
    root: str | None = None
    tasks: list[str] | None = None  # None: the dataset's default main tasks
    aux_tasks: list[str] | None = None  # None: the dataset's default auxiliary tasks
    train_size: tuple[int, int] | None = None
    n_train: int | None = None  # synthetic only: images per split
    n_val: int | None = None
    # the dataset's own seed (synthetic scenes: which scenes the splits hold); None: the run's seed, so each
    # seed draws its own data. A benchmark fixes it (e.g. 0) so that seeds vary only the training randomness
    seed: int | None = None
    # DataLoader worker processes, or "auto" (mtbench.engine.loader.resolve_workers: on CUDA min(8, the CPUs
    # this process may use); on CPU none for scenes rendered on the fly, 1 for datasets read from files)
    workers: int | Literal["auto"] = "auto"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("n_train", "n_val", "seed")
    @classmethod
    def _non_negative(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError("must be >= 0")
        return v

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v: Any) -> int | str:
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            return v
        raise ValueError("must be a number of worker processes >= 0, or 'auto'")


class TrainCfg(_Section):
    epochs: int = 10
    batch_size: int = 8
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-4
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    schedule: Literal["poly", "constant"] = "poly"
    poly_power: float = 0.9
    poly_step: Literal["iter", "epoch"] = "iter"  # epoch: decay once per epoch, as the MTI-Net release
    warmup_iters: int = 0
    task_weights: dict[str, float] = Field(default_factory=dict)
    amp: Literal["none", "bf16", "fp16"] = "none"  # CUDA only
    channels_last: bool = True  # CUDA only
    # torch.compile the training forward (evaluation stays eager); not hashed: see NOT_HASHED
    compile: bool = False
    sync_bn: bool = False
    grad_clip: float | None = None
    checkpoint_every_iters: int = 0  # 0: at epoch ends only
    max_iters: int | None = None  # stop after this many iterations (0: evaluate the initialised model)

    @field_validator("epochs", "batch_size")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v

    @field_validator("max_iters", "checkpoint_every_iters", "warmup_iters")
    @classmethod
    def _iters(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError("must be >= 0")
        return v


class EvalCfg(_Section):
    every: int = 0  # evaluate every N epochs (0: only at the end)
    checkpoint: Literal["last", "best"] = "last"
    select: str | None = None  # 'task.metric' for checkpoint=best (default: first task's primary)
    batch_size: int = 8
    split: str = "val"
    options: dict[str, Any] = Field(default_factory=dict)  # metric options, e.g. {"edge": {"max_dist": 0.011}}
    # learning curve: evaluate every N iterations (0: off) on the first ``curve_images`` images of ``split``
    # (None: all of it), at iteration 0, every N and at the end of training; the run folder's curve.csv and
    # the record's ``curve`` keep the points. Not part of the experiment (never changes training: NOT_HASHED)
    every_iters: int = 0
    curve_images: int | None = None

    @field_validator("every_iters")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be >= 0")
        return v

    @field_validator("curve_images")
    @classmethod
    def _positive_or_none(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("must be >= 1 (or null: the whole split)")
        return v


class RunCfg(_Section):
    seed: int = 0
    device: str = "auto"
    results: str = "results/local"  # your own runs: git-ignored, shown by 'mtbench table' (reporting.results)
    runs_dir: str = "runs"
    quiet: bool = False
    tensorboard: bool = False
    profile: bool = True
    deterministic: bool = True
    name: str | None = None
    # --trust-checkpoint: checkpoints that the safe loader refuses may be fully unpickled (runs their code).
    # Only the command line sets it (--trust-checkpoint or --set): a config file's value is ignored.
    trust_checkpoint: bool = False


class RunConfig(_Section):
    """One experiment. Sections: model, data, train, eval, run."""

    model: ModelCfg = Field(default_factory=ModelCfg)
    data: DataCfg = Field(default_factory=DataCfg)
    train: TrainCfg = Field(default_factory=TrainCfg)
    eval: EvalCfg = Field(default_factory=EvalCfg)
    run: RunCfg = Field(default_factory=RunCfg)

    @property
    def data_seed(self) -> int:
        """The seed the datasets are made with: ``data.seed``, or the run's seed when that is None."""
        return self.run.seed if self.data.seed is None else self.data.seed

    def hash(self) -> str:
        """Short SHA-256 of the experiment-defining fields (paths, device and verbosity excluded)."""
        d = experiment_fields(self.model_dump(mode="json"))
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def experiment_fields(config: dict[str, Any], also: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """A copy of a config dict (``RunConfig.model_dump``, or a record's stored ``config``) without the fields
    that do not change the outcome (``NOT_HASHED``) and the ``(section, key)`` fields in ``also``."""
    d = copy.deepcopy(config)
    for sec, key in (*NOT_HASHED, *also):
        section = d.get(sec)
        if isinstance(section, dict):
            section.pop(key, None)
    for (sec, key), legacy in HASHED_UNLESS.items():
        section = d.get(sec)
        if isinstance(section, dict) and key in section and section[key] == legacy:
            del section[key]
    for (sec, key), fixed in HASHED_AS.items():
        section = d.get(sec)
        if isinstance(section, dict) and key in section:
            section[key] = fixed
    return d


MAX_CONFIG_BYTES = 1 << 20  # recipes and run folders' config.yaml are a few KiB
MAX_CONFIG_VALUES = 100_000  # after expanding YAML aliases (a crafted file can nest them exponentially)


def _count_values(data: Any, budget: int) -> int:
    """Values in ``data`` counted as a consumer would see them (a shared alias counts each time it is used);
    stops once past ``budget``."""
    n, stack = 0, [data]
    while stack and n <= budget:
        x = stack.pop()
        n += 1
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple, set)):
            stack.extend(x)
    return n


def _read_yaml(path: Path) -> dict[str, Any]:
    """A YAML config as plain data: yaml.safe_load (no Python tags, no code), size-limited; one-line errors."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise UsageError(f"{path}: config file too large ({path.stat().st_size} bytes; at most {MAX_CONFIG_BYTES})")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise UsageError(f"{path}: cannot read config ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: cannot read config (not UTF-8 text: {e.reason} at byte {e.start})") from e
    except yaml.constructor.ConstructorError as e:  # e.g. !!python/object: refused, never constructed
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(
            f"{path}: YAML tag refused{where}: {e.problem} (a config holds plain data only: "
            "mappings, lists, strings, numbers)"
        ) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"{path}: malformed YAML{where}: {getattr(e, 'problem', None) or e}") from e
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a config must be a mapping of sections, got {type(data).__name__}")
    if _count_values(data, MAX_CONFIG_VALUES) > MAX_CONFIG_VALUES:
        raise UsageError(
            f"{path}: config too large (more than {MAX_CONFIG_VALUES} values once YAML aliases are expanded)"
        )
    return data


def resolve_config_path(name_or_path: str) -> Path:
    """A config file path, or the name of a recipe in mtbench/configs/ (with or without .yaml)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    stem = p.stem if p.suffix in (".yaml", ".yml") else name_or_path
    named = CONFIG_DIR / f"{stem}.yaml"
    if named.exists():
        return named
    # Recipe names encode their setting (nyud_hrnet18_480x640_100ep); a unique prefix is enough.
    prefixed = [c for c in list_configs() if c.startswith(stem + "_")]
    if len(prefixed) == 1:
        return CONFIG_DIR / f"{prefixed[0]}.yaml"
    if p.suffix in (".yaml", ".yml"):
        raise UsageError(f"--config {name_or_path}: file not found")
    from mtbench.errors import unknown_name

    raise unknown_name("config", name_or_path, list_configs(), "Pass a YAML path or a recipe name.")


def list_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _deep_update(base: dict[str, Any], upd: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in upd.items():
        out[k] = _deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_raw(name_or_path: str) -> dict[str, Any]:
    """Read a recipe, resolving one ``base:`` level (a recipe name or a path relative to the file)."""
    path = resolve_config_path(name_or_path)
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base:
        base_path = (path.parent / base) if (path.parent / base).exists() else resolve_config_path(str(base))
        base_data = _read_yaml(base_path)
        if "base" in base_data:
            raise UsageError(f"{base_path}: a base config cannot have its own 'base' (one level at most)")
        data = _deep_update(base_data, data)
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """'train.epochs=3' -> (['train', 'epochs'], 3); values are parsed as YAML scalars/lists."""
    if "=" not in item:
        raise UsageError(f"--set {item!r}: expected key=value, e.g. --set train.epochs=3")
    key, _, raw = item.partition("=")
    keys = [k for k in key.strip().split(".") if k]
    if not keys:
        raise UsageError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return keys, value


def _apply(data: dict[str, Any], keys: list[str], value: Any, item: str) -> None:
    node = data
    for k in keys[:-1]:
        nxt = node.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise UsageError(f"--set {item}: '{k}' is not a section")
        node = nxt
    node[keys[-1]] = value


MODELS_SECTION = "models"
"""A recipe's per-model section: ``models: {<model name>: {<section>: {...}}}`` is merged over the recipe
for that model (e.g. PASCAL's single-task baselines train with SGD 0.01 for 60 epochs, the multi-task
models with Adam 1e-4 for 100, as the MTI-Net release's configs). ``--set`` and CLI options still win.
The resolved config (what a record stores) has the section applied and removed."""


def apply_model_section(data: dict[str, Any], origin: str = "config") -> dict[str, Any]:
    """``data`` with its ``models`` section popped and the entry of ``data['model']['name']`` merged in."""
    data = dict(data)
    per_model = data.pop(MODELS_SECTION, None) or {}
    if not isinstance(per_model, dict) or not all(isinstance(v, dict) for v in per_model.values()):
        raise UsageError(f"{origin}: '{MODELS_SECTION}' must map model names to config sections")
    name = (data.get("model") or {}).get("name", ModelCfg().name)
    return _deep_update(data, per_model[name]) if name in per_model else data


def build_config(config: str | None = None, overrides: list[str] | None = None, **direct: Any) -> RunConfig:
    """Recipe (default: synthetic_default), its per-model section for the chosen model, then ``--set``
    overrides and direct options ('section.key': value, None values dropped so unset CLI options keep the
    recipe's value)."""
    origin = config or DEFAULT_CONFIG
    data = load_raw(origin)
    items = list(overrides or [])
    parsed = [(item, *parse_override(item)) for item in items]
    direct_items = [(f"{k}={v}", k.split("."), v) for k, v in direct.items() if v is not None]

    def apply_all(target: dict[str, Any]) -> None:
        for item, keys, value in parsed + direct_items:
            _apply(target, keys, value, item)

    apply_all(data)  # first pass: settles the model name (and lets --set edit the models section)
    data = apply_model_section(data, origin)
    apply_all(data)  # second pass: the command line wins over the model's section
    overridden = {".".join(keys) for _, keys, _ in parsed} | {k for k, v in direct.items() if v is not None}
    run = data.get("run")
    if TRUST_KEY not in overridden and isinstance(run, dict) and run.pop("trust_checkpoint", None):
        log.warning(
            "%s: run.trust_checkpoint ignored: only --trust-checkpoint on the command line allows a full "
            "unpickle of checkpoints",
            origin,
        )
    return validate_config(data, origin=origin, overridden=overridden)


def validate_config(
    data: dict[str, Any], origin: str = "config", overridden: AbstractSet[str] = frozenset()
) -> RunConfig:
    """Validate a raw config; errors name the key and whether it came from ``--set`` or the file."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        if any(loc == k or loc.startswith(k + ".") or k.startswith(loc + ".") for k in overridden):
            origin = "--set"
        if err["type"] == "extra_forbidden":
            raise UsageError(f"{origin}: unknown config key '{loc}' (see 'mtbench config show')") from e
        raise UsageError(f"{origin}: bad value for '{loc}': {err['msg']} (got {err.get('input')!r})") from e


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
