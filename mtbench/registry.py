"""The model and task registries of mtbench (datasets register in ``mtbench.data.spec``). Plain dicts.

A model is an entry point ``fn(*, tasks, aux_tasks, out_channels, backbone, pretrained, **options)``
registered with ``@register_model(name, aux_tasks=..., one_net_per_task=..., backbones=...)``, which stores
a :class:`ModelInfo`. ``create_model`` checks the arguments against it once (tasks, options, backbone),
so entry points receive valid arguments. Model packages are found through the entry-point group
``mtbench.models`` (``[project.entry-points."mtbench.models"]`` in a package's pyproject.toml): importing
each listed module registers its models, so a third-party package adds models by declaring its own.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from mtbench.errors import MtbenchError, UsageError, unknown_name

if TYPE_CHECKING:
    import torch.nn as nn

    from mtbench.tasks.base import Task

ENTRY_POINT_GROUP = "mtbench.models"
# Arguments every entry point takes from create_model; the others are the model's options (model.kwargs).
_STANDARD_ARGS = ("tasks", "aux_tasks", "out_channels", "backbone", "pretrained")
ModelFn = Callable[..., "nn.Module"]  # a model entry point


@dataclass(frozen=True)
class Backbones:
    """Which ``--backbone`` values a model takes: ``default`` (also its entry point's default), shell-style
    ``patterns`` a name must match, and ``summary`` saying the same in words for errors and listings."""

    default: str = "hrnet18"
    patterns: tuple[str, ...] = ("*",)
    summary: str = "any backbone"

    def accepts(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)


ANY_BACKBONE = Backbones()
# Models built on ResNet stages (mtbench.backbones.stages.resnet_stages, which checks the structure).
RESNET_BACKBONES = Backbones("resnet18", ("resnet*", "timm:*"), "a ResNet backbone (resnet18, resnet50, timm:<ResNet>)")


@dataclass(frozen=True)
class ModelInfo:
    """What the harness knows of a registered model (given at registration)."""

    name: str
    entrypoint: ModelFn
    aux_tasks: bool  # uses auxiliary tasks (deep supervision); others reject them, the engine drops defaults
    one_net_per_task: bool  # exactly one task per network; `mtbench run` trains one run per task
    backbones: Backbones = ANY_BACKBONE
    description: str = ""  # first line of the entry point's docstring

    def facts(self) -> str:
        """One line for ``mtbench list models``."""
        b = self.backbones
        return (
            f"aux tasks: {'yes' if self.aux_tasks else 'no'}; one net per task: "
            f"{'yes' if self.one_net_per_task else 'no'}; backbone: {b.summary}, default {b.default}"
        )


_MODELS: dict[str, ModelInfo] = {}
_TASKS: dict[str, Task] = {}
_loaded = False


def register_model(
    name: str, *, aux_tasks: bool, one_net_per_task: bool = False, backbones: Backbones = ANY_BACKBONE
) -> Callable[[ModelFn], ModelFn]:
    """Decorator registering a model entry point under ``name`` with its :class:`ModelInfo`.

    ``aux_tasks``: the model uses auxiliary tasks; ``one_net_per_task``: it takes exactly one task;
    ``backbones``: the backbones it takes. A duplicate name, or an entry point whose ``backbone`` default
    differs from ``backbones.default``, is an error."""

    def deco(fn: ModelFn) -> ModelFn:
        from mtbench.reporting.results import FLOOR_MODEL

        if name == FLOOR_MODEL:  # records of that name are the constant-predictor floor, never model rows
            raise ValueError(f"Model name '{name}' is reserved for the constant-predictor floor records")
        if name in _MODELS and _MODELS[name].entrypoint is not fn:
            raise KeyError(f"Model '{name}' is already registered (by {_MODELS[name].entrypoint.__module__})")
        param = inspect.signature(fn).parameters.get("backbone")
        default = param.default if param is not None else inspect.Parameter.empty
        if default is not inspect.Parameter.empty and default != backbones.default:
            raise ValueError(
                f"Model '{name}': entry point default backbone '{default}' differs from the "
                f"registered default '{backbones.default}'"
            )
        if not backbones.accepts(backbones.default):
            raise ValueError(
                f"Model '{name}': default backbone '{backbones.default}' does not match {', '.join(backbones.patterns)}"
            )
        doc = (fn.__doc__ or "").strip()
        _MODELS[name] = ModelInfo(name, fn, aux_tasks, one_net_per_task, backbones, doc.splitlines()[0] if doc else "")
        return fn

    return deco


def unregister_model(name: str) -> ModelInfo | None:
    """Remove a model from the registry, returning its descriptor (None if absent). For tests that register
    a model of their own and must leave the registry as they found it."""
    return _MODELS.pop(name, None)


def register_task(task: Task) -> Task:
    """Register a task instance under its ``name``; a duplicate name is an error."""
    if task.name in _TASKS and _TASKS[task.name] is not task:
        raise KeyError(f"Task '{task.name}' is already registered")
    _TASKS[task.name] = task
    return task


def unregister_task(name: str) -> Task | None:
    """Remove a task from the registry, returning it (None if absent). For tests, as ``unregister_model``."""
    return _TASKS.pop(name, None)


def _load_models() -> None:
    """Import every module of the ``mtbench.models`` entry-point group once (their import registers models)."""
    global _loaded
    if _loaded:
        return
    eps = entry_points(group=ENTRY_POINT_GROUP)
    if not eps:
        raise MtbenchError(
            f"No model packages in the entry-point group '{ENTRY_POINT_GROUP}': install or reinstall mtbench "
            f"(pip install -e .) so that its package metadata declares them"
        )
    for ep in eps:
        try:
            ep.load()
        except Exception as e:  # any import failure of a plug-in: one line naming the entry point
            detail = (str(e).strip().splitlines() or [""])[0]
            dist = f" of {ep.dist.name}" if ep.dist is not None else ""
            raise MtbenchError(
                f"Model package '{ep.name} = {ep.value}' (entry point{dist} in group "
                f"'{ENTRY_POINT_GROUP}') failed to import: {type(e).__name__}: {detail}"
            ) from e
    _loaded = True


def _load_tasks() -> None:
    importlib.import_module("mtbench.tasks")


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern."""
    _load_models()
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def list_tasks() -> list[str]:
    _load_tasks()
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    _load_tasks()
    if name not in _TASKS:
        raise unknown_name("task", name, _TASKS, "Run 'mtbench list tasks'.")
    return _TASKS[name]


def model_info(name: str) -> ModelInfo:
    """The descriptor of a registered model; an unknown name is a UsageError with close matches."""
    _load_models()
    if name not in _MODELS:
        raise unknown_name("model", name, _MODELS, "Run 'mtbench list models'.")
    return _MODELS[name]


def model_entrypoint(name: str) -> ModelFn:
    """The entry point of a registered model (``model_info(name).entrypoint``)."""
    return model_info(name).entrypoint


def _check_options(info: ModelInfo, kwargs: dict[str, Any]) -> None:
    params = inspect.signature(info.entrypoint).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [p for p in params if p not in _STANDARD_ARGS]
    for k in kwargs:
        if k not in params:
            raise UsageError(
                f"Model '{info.name}' has no option '{k}' (from --set model.kwargs.{k}=...); "
                f"valid: {', '.join(allowed) or 'none'}."
            )


def _check_tasks(
    info: ModelInfo, tasks: Sequence[str], aux_tasks: Sequence[str], out_channels: dict[str, int]
) -> tuple[list[str], list[str]]:
    """The task lists checked against the descriptor; returns (main tasks, auxiliary tasks) as lists."""
    name, tasks, aux_tasks = info.name, list(tasks), list(aux_tasks)
    if not tasks:
        raise UsageError(f"Model '{name}' needs at least one task (--tasks).")
    if info.one_net_per_task and len(tasks) != 1:
        raise UsageError(
            f"Model '{name}' takes exactly one task, got {len(tasks)} ({', '.join(tasks)}); "
            f"pass one task with --tasks NAME (one {name} model per task)."
        )
    if aux_tasks and not info.aux_tasks:
        users = " / ".join(n for n in sorted(_MODELS) if _MODELS[n].aux_tasks) or "a model that takes them"
        raise UsageError(
            f"Model '{name}' has no deep supervision, so auxiliary tasks ({', '.join(aux_tasks)}) "
            f"would be ignored; drop --aux-tasks or use {users}."
        )
    for group, names in (("--tasks", tasks), ("--aux-tasks", aux_tasks)):
        if len(set(names)) != len(names):
            raise UsageError(f"Duplicate task in {group}: {', '.join(names)}.")
    both = [t for t in aux_tasks if t in tasks]
    if both:
        raise UsageError(f"Task(s) {', '.join(both)} given both as main (--tasks) and auxiliary (--aux-tasks).")
    missing = [t for t in tasks + aux_tasks if t not in out_channels]
    if missing:
        raise UsageError(f"Model '{name}': no output channel count for task(s) {', '.join(missing)}.")
    return tasks, aux_tasks


def create_model(
    name: str,
    *,
    tasks: Sequence[str],
    aux_tasks: Sequence[str] = (),
    out_channels: dict[str, int],
    backbone: str | None = None,
    pretrained: str | bool | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model after checking options, tasks and backbone against its descriptor (one-line
    UsageErrors). ``backbone`` None: the model's default. ``kwargs`` set to None are dropped (model default)."""
    info = model_info(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    _check_options(info, kwargs)
    tasks, aux_tasks = _check_tasks(info, tasks, aux_tasks, out_channels)
    backbone = info.backbones.default if backbone is None else backbone
    if not info.backbones.accepts(backbone):
        raise UsageError(
            f"Model '{name}' needs {info.backbones.summary}, got --backbone {backbone}; "
            f"pass e.g. --backbone {info.backbones.default}."
        )
    return info.entrypoint(
        tasks=tasks,
        aux_tasks=aux_tasks,
        out_channels=dict(out_channels),
        backbone=backbone,
        pretrained=pretrained,
        **kwargs,
    )
