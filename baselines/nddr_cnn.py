"""NDDR-CNN (Gao et al., CVPR 2019) on ResNet: one network per task, after every stage each task gets
a 1×1 conv (no bias) over the concatenation of all tasks' features, BN, ReLU; the conv is initialised
to ``alpha``·I on the task's own block and ``beta``·I on the others (0.9 / 0.1 as in the MTI-Net release),
BN momentum 0.05. Two-stage recipe: ``--set model.kwargs.init_from=<single-task runs>``, units at 100× lr.
mtbench adaptation: the heads are the multi-scale head on the four fused stage outputs."""

from __future__ import annotations

import torch
import torch.nn as nn

from baselines._stagewise import StagewiseMultiNet
from mtbench.registry import RESNET_BACKBONES, register_model


class NDDRLayer(nn.Module):
    """Per task: 1×1 conv N·C→C (no bias), BN, ReLU on the concatenated task features."""

    def __init__(self, tasks: list[str], channels: int, alpha: float = 0.9, beta: float = 0.1) -> None:
        super().__init__()
        self.tasks = list(tasks)
        n = len(tasks)
        self.fuse = nn.ModuleDict()
        for i, t in enumerate(self.tasks):
            conv = nn.Conv2d(n * channels, channels, 1, bias=False)
            eye = torch.eye(channels)
            with torch.no_grad():
                conv.weight.copy_(torch.cat([eye * (alpha if j == i else beta) for j in range(n)], 1)[:, :, None, None])
            # BN momentum 0.05 (PyTorch convention) as the release's NDDR layer
            self.fuse[t] = nn.Sequential(conv, nn.BatchNorm2d(channels, momentum=0.05), nn.ReLU(inplace=True))

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cat = torch.cat([feats[t] for t in self.tasks], 1)
        return {t: self.fuse[t](cat) for t in self.tasks}


@register_model("nddr_cnn", aux_tasks=False, backbones=RESNET_BACKBONES)
def nddr_cnn(
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
    """NDDR-CNN: per-task ResNets fused by 1×1 conv + BN + ReLU after every stage (ResNet only)."""
    return StagewiseMultiNet(
        "nddr_cnn",
        backbone,
        pretrained,
        tasks,
        out_channels,
        lambda ts, c: NDDRLayer(ts, c, alpha, beta),
        init_from,
        unit_lr_mult,
    )
