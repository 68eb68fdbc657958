"""Cross-stitch networks (Misra et al., CVPR 2016) on ResNet: one network per task, after every stage
each task's feature becomes a channel-wise weighted sum of all tasks' features (weights initialised to
``alpha`` for the own task and ``beta`` for the others, as in the MTI-Net release: 0.9 / 0.1).
Two-stage recipe: ``--set model.kwargs.init_from=<single-task runs>``, stitch units at 100× the lr.
mtbench adaptation: the heads are the multi-scale head on the four stitched stage outputs."""

from __future__ import annotations

import torch
import torch.nn as nn

from baselines._stagewise import StagewiseMultiNet
from mtbench.registry import RESNET_BACKBONES, register_model


class CrossStitchUnit(nn.Module):
    """out_i = Σ_j a_ij ⊙ x_j with a_ij a learnable per-channel vector."""

    def __init__(self, tasks: list[str], channels: int, alpha: float = 0.9, beta: float = 0.1) -> None:
        super().__init__()
        self.tasks = list(tasks)
        init = torch.full((len(tasks), len(tasks), channels), beta)
        init[range(len(tasks)), range(len(tasks))] = alpha
        self.weight = nn.Parameter(init)

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        xs = torch.stack([feats[t] for t in self.tasks])  # T×B×C×H×W
        mixed = torch.einsum("ijc,jbchw->ibchw", self.weight, xs)
        return {t: mixed[i] for i, t in enumerate(self.tasks)}


@register_model("cross_stitch", aux_tasks=False, backbones=RESNET_BACKBONES)
def cross_stitch(
    *,
    tasks: list[str],
    aux_tasks: list[str],
    out_channels: dict[str, int],
    backbone: str = "resnet18",
    pretrained: str | bool | None = None,
    alpha: float = 0.9,
    beta: float = 0.1,
    init_from: str | list[str] | None = None,
    unit_lr_mult: float = 100.0,
) -> StagewiseMultiNet:
    """Cross-stitch networks: per-task ResNets mixed channel-wise after every stage (ResNet only)."""
    return StagewiseMultiNet(
        "cross_stitch",
        backbone,
        pretrained,
        tasks,
        out_channels,
        lambda ts, c: CrossStitchUnit(ts, c, alpha, beta),
        init_from,
        unit_lr_mult,
    )
