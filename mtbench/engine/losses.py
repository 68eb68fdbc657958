"""Total multi-task loss: Σ task weight × task loss over the outputs and every deep-supervision output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
import torch.nn.functional as F

from mtbench.errors import MtbenchError
from mtbench.registry import get_task


class NonFiniteLoss(MtbenchError):
    """A task's loss became NaN or inf."""


def _match_size(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if out.shape[-2:] != target.shape[-2:]:
        out = F.interpolate(out, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return out


class MultiTaskLoss:
    """Weighted sum of task losses. The weighting is its own object (fixed weights here), not the model's.

    ``__call__(outputs, batch)`` returns (total, {name: loss}) where names are the task names for the
    final outputs and ``"<group>/<task>"`` for the deep-supervision outputs under ``outputs['aux']``.
    """

    def __init__(self, tasks: list[str], aux_tasks: list[str], weights: Mapping[str, float]) -> None:
        self.tasks, self.aux_tasks = list(tasks), list(aux_tasks)
        self.weights = {t: float(weights.get(t, 1.0)) for t in self.tasks + self.aux_tasks}

    def __call__(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # (part name, task, prediction): the final outputs, then every deep-supervision output
        preds = [(t, t, outputs[t]) for t in self.tasks]
        for group, group_preds in (outputs.get("aux") or {}).items():
            preds += [(f"{group}/{t}", t, pred) for t, pred in group_preds.items()]
        # each task's predictions against its target in one ``Task.losses`` call (target masks computed once)
        by_task: dict[str, list[int]] = {}
        for i, (_, t, _) in enumerate(preds):
            by_task.setdefault(t, []).append(i)
        values: dict[int, torch.Tensor] = {}
        for t, idx in by_task.items():
            target = batch[t]
            task_losses = get_task(t).losses([_match_size(preds[i][2], target) for i in idx], target)
            values.update(zip(idx, task_losses))
        parts = {name: values[i] for i, (name, _, _) in enumerate(preds)}
        # a tensor: there is at least one main task (resolve_experiment requires one), so ``parts`` is not empty
        total = cast(torch.Tensor, sum(self.weights[k.rsplit("/", 1)[-1]] * v for k, v in parts.items()))
        return total, parts

    @staticmethod
    def check_finite(parts: dict[str, torch.Tensor], epoch: int, step: int) -> None:
        """NonFiniteLoss naming the first non-finite part. One device sync for all parts when all are finite."""
        if not parts or bool(torch.isfinite(torch.cat([v.detach().float().reshape(-1) for v in parts.values()])).all()):
            return
        for name, v in parts.items():
            if not bool(torch.isfinite(v.detach()).all()):
                raise NonFiniteLoss(
                    f"non-finite loss ({float(v.detach())}) in task '{name}' at epoch {epoch} "
                    f"step {step}; lower the learning rate or check the data"
                )
