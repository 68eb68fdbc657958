"""Initialise a multi-task model from trained single-task runs (the two-stage recipe of cross-stitch
networks and NDDR-CNN in the MTI-Net release: each task's network starts as that task's single-task model).

``init_from`` entries are run ids (folders under ``runs/``), run folders, or checkpoint files written by
``mtbench run --model single_task``; each must hold exactly one task. The run's reported checkpoint is used
(best if that run selected best, else last).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mtbench.errors import UsageError

RUNS_DIR = Path("runs")


def parse_entries(init_from: str | list[str] | tuple[str, ...]) -> list[str]:
    """'a,b' or ['a', 'b'] -> ['a', 'b'] (empty items dropped)."""
    items = init_from.split(",") if isinstance(init_from, str) else list(init_from)
    out = [str(x).strip() for x in items if str(x).strip()]
    if not out:
        raise UsageError("model.kwargs.init_from: give one single-task run id, run folder or checkpoint per task")
    return out


def reports_best(run_dir: Path) -> bool:
    """Whether a run folder's config selects the best checkpoint (``eval.checkpoint: best``)."""
    from mtbench.config import load_raw

    if not (run_dir / "config.yaml").exists():
        return False
    return (load_raw(str(run_dir / "config.yaml")).get("eval") or {}).get("checkpoint") == "best"


def checkpoint_file(entry: str, runs_dir: Path = RUNS_DIR) -> Path:
    """The checkpoint an entry names: a file, a run folder's reported checkpoint, or ``runs/<id>``'s."""
    from mtbench.engine.trainer import reported_checkpoint

    path = Path(entry)
    if path.is_file():
        return path
    folder = path if path.is_dir() else runs_dir / entry
    if not folder.is_dir():
        raise UsageError(
            f"model.kwargs.init_from: '{entry}' is neither a checkpoint file, a run folder nor a "
            f"run id under {runs_dir}/"
        )
    ck = reported_checkpoint(folder, reports_best(folder))
    if not ck.exists():
        raise UsageError(f"model.kwargs.init_from: {folder} has no checkpoint ({ck.name})")
    return ck


def _one_net_per_task(name: Any) -> bool:
    """Whether a checkpoint's model name is a registered one-network-per-task model (``single_task``)."""
    from mtbench.registry import model_info

    try:
        return isinstance(name, str) and model_info(name).one_net_per_task
    except UsageError:  # a model not registered here
        return False


def single_task_weights(
    init_from: str | list[str], tasks: list[str], backbone: str, runs_dir: Path = RUNS_DIR
) -> dict[str, dict[str, Any]]:
    """{task: the single-task model's state dict} for every task of ``tasks``, from ``init_from``.

    Each checkpoint must come from a ``single_task`` run on one of ``tasks`` with the same backbone; every task
    needs exactly one. Errors are one line naming the file."""
    from mtbench.engine.checkpoint import load_checkpoint

    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for entry in parse_entries(init_from):
        path = checkpoint_file(entry, runs_dir)
        ck = load_checkpoint(path)  # the safe loader: a shared checkpoint is data (see mtbench.safeload)
        cfg = ck.get("config") if isinstance(ck, dict) else None
        if not isinstance(cfg, dict) or not isinstance(ck.get("model"), dict):
            raise UsageError(f"{path}: not an mtbench checkpoint (no model weights and config)")
        name, run_tasks = cfg.get("model", {}).get("name"), cfg.get("data", {}).get("tasks") or []
        if not _one_net_per_task(name) or len(run_tasks) != 1:
            raise UsageError(
                f"{path}: init_from needs single-task checkpoints, this one is model '{name}' on tasks {run_tasks}"
            )
        task, bb = run_tasks[0], cfg.get("model", {}).get("backbone")
        if task not in tasks:
            raise UsageError(
                f"{path}: a single-task checkpoint for '{task}', which is not a task of this model ({', '.join(tasks)})"
            )
        if bb != backbone:
            raise UsageError(f"{path}: backbone '{bb}' differs from this model's '{backbone}'")
        if task in found:
            raise UsageError(f"model.kwargs.init_from: two checkpoints for '{task}': {found[task][0]} and {path}")
        found[task] = (path, ck["model"])
    missing = [t for t in tasks if t not in found]
    if missing:
        raise UsageError(f"model.kwargs.init_from: no single-task checkpoint for {', '.join(missing)}")
    return {t: found[t][1] for t in tasks}


def load_part(module: torch.nn.Module, state: dict[str, Any], prefix: str, what: str) -> None:
    """Load ``state``'s ``prefix``-keys into ``module`` strictly; a mismatch is one line naming the part."""
    part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(part, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if line.strip()), first[0] if first else "")
        raise UsageError(f"init_from: {what} does not match the single-task checkpoint: {detail}") from None
