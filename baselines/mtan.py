"""MTAN (Liu et al., CVPR 2019) on ResNet: a shared ResNet; per task and stage an attention mask (from
the stage's features before its last block, concatenated with the task's previous attended feature)
applied to the stage output; shared refinement bottlenecks (+ 2×2 max-pool) between stages, as in the
MTI-Net release. mtbench adaptation: the heads are the multi-scale head on the four attended features."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn

from mtbench.backbones import Backbone, build_backbone
from mtbench.backbones.stages import resnet_stages
from mtbench.nn import Bottleneck, MultiScaleHead, check_image, resize
from mtbench.registry import RESNET_BACKBONES, register_model


def attention_mask(in_ch: int, mid: int, out_ch: int) -> nn.Sequential:
    """1×1 conv (bias) in→mid, BN, ReLU, 1×1 conv (bias) mid→out, BN, sigmoid."""
    return nn.Sequential(
        nn.Conv2d(in_ch, mid, 1),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, out_ch, 1),
        nn.BatchNorm2d(out_ch),
        nn.Sigmoid(),
    )


class MTAN(nn.Module):
    """Shared ResNet + task attention at every stage; forward -> ``{task: B×C×H×W}``."""

    def __init__(self, backbone: Backbone, tasks: list[str], out_channels: dict[str, int]) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.aux_tasks: list[str] = []
        # every stage is an nn.Sequential (stem + layer1, layer2, layer3, layer4), and so is timm's layer1
        stages = [cast(nn.Sequential, stage) for stage in resnet_stages(backbone, "mtan")]
        layer1 = cast(nn.Sequential, stages[0][-1])
        ch = self.channels = list(backbone.channels)
        # split every stage into (all but its last residual block, its last block)
        self.pre = nn.ModuleList([nn.Sequential(stages[0][:-1], layer1[:-1])] + [stages[s][:-1] for s in range(1, 4)])
        self.last = nn.ModuleList([layer1[-1]] + [stages[s][-1] for s in range(1, 4)])
        self.attn = nn.ModuleList(
            [
                nn.ModuleDict({t: attention_mask(ch[s] * (1 if s == 0 else 2), ch[s] // 4, ch[s]) for t in tasks})
                for s in range(4)
            ]
        )
        self.refine = nn.ModuleList([nn.Sequential(Bottleneck(ch[s], ch[s + 1]), nn.MaxPool2d(2)) for s in range(3)])
        self.heads = nn.ModuleDict({t: MultiScaleHead(ch, out_channels[t]) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image(x)
        h, prev = x, None
        attended: list[dict[str, torch.Tensor]] = []
        for s in range(4):
            before = self.pre[s](h)
            h = self.last[s](before)
            a = {}
            for t in self.tasks:
                inp = before if prev is None else torch.cat([before, prev[t]], 1)
                a[t] = cast(nn.ModuleDict, self.attn[s])[t](inp) * h
            attended.append(a)
            prev = {t: self.refine[s](a[t]) for t in self.tasks} if s < 3 else None
        return {t: resize(self.heads[t]([a[t] for a in attended]), x.shape[-2:]) for t in self.tasks}


@register_model("mtan", aux_tasks=False, backbones=RESNET_BACKBONES)
def mtan(
    *,
    tasks: list[str],
    aux_tasks: list[str],
    out_channels: dict[str, int],
    backbone: str = "resnet18",
    pretrained: str | bool | None = None,
) -> MTAN:
    """MTAN: shared ResNet with task-specific attention masks at every stage (ResNet only)."""
    return MTAN(build_backbone(backbone, pretrained), tasks, out_channels)
