"""Argument checks and small helpers shared by every model's entry point and forward."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mtbench.errors import UsageError

OUTPUT_STRIDE = 32


def check_input_hw(h: int, w: int, stride: int = OUTPUT_STRIDE) -> None:
    """Raise UsageError unless both sides are positive multiples of ``stride`` (the backbone's)."""
    if h <= 0 or w <= 0 or h % stride or w % stride:
        raise UsageError(
            f"Input size {h}x{w} is not divisible by {stride} (the backbone's output stride); "
            f"pass --input HxW with both sides multiples of {stride}, e.g. 480x640."
        )


def check_image(x: torch.Tensor) -> None:
    """Check a model input: B×3×H×W with H, W multiples of 32."""
    if x.dim() != 4:
        raise UsageError(f"Model input must be B×C×H×W, got shape {tuple(x.shape)}.")
    check_input_hw(int(x.shape[-2]), int(x.shape[-1]))


def resolve_tasks(model: str, tasks: Sequence[str], aux_tasks: Sequence[str], out_channels: dict[str, int],
                  *, allow_aux: bool = True, exactly_one: bool = False) -> tuple[list[str], list[str]]:
    """Validate the task lists of an entry point; return (main tasks, main + auxiliary tasks)."""
    tasks, aux_tasks = list(tasks), list(aux_tasks)
    if not tasks:
        raise UsageError(f"Model '{model}' needs at least one task (--tasks).")
    if exactly_one and len(tasks) != 1:
        raise UsageError(f"Model '{model}' takes exactly one task, got {len(tasks)} ({', '.join(tasks)}); "
                         f"pass one task with --tasks NAME (one single_task model per task).")
    if aux_tasks and not allow_aux:
        raise UsageError(f"Model '{model}' has no deep supervision, so auxiliary tasks ({', '.join(aux_tasks)}) "
                         f"would be ignored; drop --aux-tasks or use padnet / mtinet.")
    for group, names in (("--tasks", tasks), ("--aux-tasks", aux_tasks)):
        if len(set(names)) != len(names):
            raise UsageError(f"Duplicate task in {group}: {', '.join(names)}.")
    both = [t for t in aux_tasks if t in tasks]
    if both:
        raise UsageError(f"Task(s) {', '.join(both)} given both as main (--tasks) and auxiliary (--aux-tasks).")
    all_tasks = tasks + aux_tasks
    missing = [t for t in all_tasks if t not in out_channels]
    if missing:
        raise UsageError(f"Model '{model}': no output channel count for task(s) {', '.join(missing)}.")
    return tasks, all_tasks


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False) to ``size`` (H, W); a no-op when already that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
