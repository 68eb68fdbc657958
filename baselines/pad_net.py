"""PAD-Net (Xu et al., CVPR 2018) as in the MTI-Net release: single-scale multi-modal distillation.

Backbone scales fused at 1/4 (upsample, concatenate, 1×1 conv-BN-ReLU); per task in tasks ∪ aux_tasks
two bottleneck blocks to ``channels`` and a 1×1 conv (initial predictions, deep supervision under
``aux["initial"]``); spatial-attention distillation into each main task; per main task two bottleneck
blocks and a 1×1 conv, bilinear to the input size.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mtbench.backbones import Backbone, build_backbone
from mtbench.nn import Bottleneck, MultiScaleFuse, MultiTaskDistillation, check_image, resize
from mtbench.registry import register_model


def _two_bottlenecks(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(Bottleneck(in_ch, out_ch), Bottleneck(out_ch, out_ch))


class PADNet(nn.Module):
    """Forward: ``{task: B×C×H×W}`` for main tasks; in training also ``aux={"initial": {task: ...}}``."""

    def __init__(
        self,
        backbone: Backbone,
        tasks: list[str],
        aux_tasks: list[str],
        out_channels: dict[str, int],
        channels: int = 256,
    ) -> None:
        super().__init__()
        self.tasks, self.aux_tasks = list(tasks), list(aux_tasks)
        all_tasks = self.tasks + self.aux_tasks
        self.backbone = backbone
        self.fuse = MultiScaleFuse(backbone.channels)
        fused = self.fuse.out_channels
        self.initial = nn.ModuleDict({t: _two_bottlenecks(fused, channels) for t in all_tasks})
        self.initial_out = nn.ModuleDict({t: nn.Conv2d(channels, out_channels[t], 1) for t in all_tasks})
        self.distill = MultiTaskDistillation(self.tasks, all_tasks, channels)
        self.heads = nn.ModuleDict(
            {
                t: nn.Sequential(_two_bottlenecks(channels, channels), nn.Conv2d(channels, out_channels[t], 1))
                for t in self.tasks
            }
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | dict]:
        check_image(x)
        size = x.shape[-2:]
        shared = self.fuse(self.backbone(x))
        feats = {t: block(shared) for t, block in self.initial.items()}
        out: dict[str, torch.Tensor | dict] = {}
        if self.training:
            out["aux"] = {"initial": {t: resize(self.initial_out[t](f), size) for t, f in feats.items()}}
        refined = self.distill(feats)
        for t in self.tasks:
            out[t] = resize(self.heads[t](refined[t]), size)
        return out


@register_model("padnet", aux_tasks=True)
def padnet(
    *,
    tasks: list[str],
    aux_tasks: list[str],
    out_channels: dict[str, int],
    backbone: str = "hrnet18",
    pretrained: str | bool | None = None,
    channels: int = 256,
) -> PADNet:
    """PAD-Net: fused backbone, per-task initial predictions, one-scale attention distillation."""
    return PADNet(build_backbone(backbone, pretrained), tasks, list(aux_tasks), out_channels, channels)
