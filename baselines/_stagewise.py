"""Shared frame of cross-stitch networks and NDDR-CNN: one ResNet per task, a fusion unit after every
stage, a multi-scale head per task on that task's four fused stage outputs."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from mtbench.backbones import build_backbone
from mtbench.backbones.stages import resnet_stages
from mtbench.nn import MultiScaleHead, check_image, resize


class StagewiseMultiNet(nn.Module):
    """Per-task ResNets whose stage outputs are fused across tasks by ``make_unit(tasks, channels)``."""

    def __init__(self, model: str, backbone: str, pretrained, tasks: list[str], out_channels: dict[str, int],
                 make_unit) -> None:
        super().__init__()
        self.tasks, self.aux_tasks = list(tasks), []
        bb = build_backbone(backbone, pretrained)
        stages = resnet_stages(bb, model)
        self.channels = list(bb.channels)
        self.nets = nn.ModuleDict({t: copy.deepcopy(stages) for t in self.tasks})
        self.units = nn.ModuleList([make_unit(self.tasks, c) for c in self.channels])
        self.heads = nn.ModuleDict({t: MultiScaleHead(self.channels, out_channels[t]) for t in self.tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image(x)
        h = {t: x for t in self.tasks}
        per_stage: list[dict[str, torch.Tensor]] = []
        for s, unit in enumerate(self.units):
            h = unit({t: self.nets[t][s](h[t]) for t in self.tasks})
            per_stage.append(h)
        return {t: resize(self.heads[t]([f[t] for f in per_stage]), x.shape[-2:]) for t in self.tasks}
