"""The two registries of mtbench: models and tasks. Plain dicts of constructors, nothing else global."""
from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mtbench.errors import UsageError, unknown_name

if TYPE_CHECKING:
    import torch.nn as nn

    from mtbench.tasks.base import Task

_MODELS: dict[str, Callable[..., "nn.Module"]] = {}
_TASKS: dict[str, "Task"] = {}
# Packages whose import registers models (the model families live outside the harness).
_MODEL_PACKAGES = ("baselines", "mtinet")
_loaded = False


def register_model(name: str) -> Callable[[Callable[..., "nn.Module"]], Callable[..., "nn.Module"]]:
    """Register a model family's entry point under ``name``; a duplicate name is an error."""

    def deco(fn: Callable[..., "nn.Module"]) -> Callable[..., "nn.Module"]:
        if name in _MODELS and _MODELS[name] is not fn:
            raise KeyError(f"Model '{name}' is already registered (by {_MODELS[name].__module__})")
        _MODELS[name] = fn
        return fn

    return deco


def register_task(task: "Task") -> "Task":
    """Register a task instance under its ``name``; a duplicate name is an error."""
    if task.name in _TASKS and _TASKS[task.name] is not task:
        raise KeyError(f"Task '{task.name}' is already registered")
    _TASKS[task.name] = task
    return task


def _load_models() -> None:
    global _loaded
    if not _loaded:
        for pkg in _MODEL_PACKAGES:
            importlib.import_module(pkg)
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


def get_task(name: str) -> "Task":
    _load_tasks()
    if name not in _TASKS:
        raise unknown_name("task", name, _TASKS, "Run 'mtbench list tasks'.")
    return _TASKS[name]


def model_entrypoint(name: str) -> Callable[..., "nn.Module"]:
    _load_models()
    if name not in _MODELS:
        raise unknown_name("model", name, _MODELS, "Run 'mtbench list models'.")
    return _MODELS[name]


def create_model(
    name: str,
    *,
    tasks: Sequence[str],
    aux_tasks: Sequence[str] = (),
    out_channels: dict[str, int],
    backbone: str = "hrnet18",
    pretrained: str | bool | None = None,
    **kwargs: Any,
) -> "nn.Module":
    """Build a registered model. ``kwargs`` set to None are dropped (model default), unknown ones rejected."""
    fn = model_entrypoint(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    params = inspect.signature(fn).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = [p for p in params if p not in ("tasks", "aux_tasks", "out_channels", "backbone", "pretrained")]
        for k in kwargs:
            if k not in params:
                raise UsageError(
                    f"Model '{name}' has no option '{k}' (from --set model.{k}=...); valid: {', '.join(allowed) or 'none'}."
                )
    return fn(tasks=list(tasks), aux_tasks=list(aux_tasks), out_channels=dict(out_channels),
              backbone=backbone, pretrained=pretrained, **kwargs)
