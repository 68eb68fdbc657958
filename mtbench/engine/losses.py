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
        parts: dict[str, torch.Tensor] = {}
        for t in self.tasks:
            parts[t] = get_task(t).loss(_match_size(outputs[t], batch[t]), batch[t])
        for group, preds in (outputs.get("aux") or {}).items():
            for t, pred in preds.items():
                parts[f"{group}/{t}"] = get_task(t).loss(_match_size(pred, batch[t]), batch[t])
        # a tensor: there is at least one main task (resolve_experiment requires one), so ``parts`` is not empty
        total = cast(torch.Tensor, sum(self.weights[k.rsplit("/", 1)[-1]] * v for k, v in parts.items()))
        return total, parts

    @staticmethod
    def check_finite(parts: dict[str, torch.Tensor], epoch: int, step: int) -> None:
        for name, v in parts.items():
            if not bool(torch.isfinite(v.detach()).all()):
                raise NonFiniteLoss(
                    f"non-finite loss ({float(v.detach())}) in task '{name}' at epoch {epoch} "
                    f"step {step}; lower the learning rate or check the data"
                )
