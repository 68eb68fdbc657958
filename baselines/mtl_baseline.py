"""Multi-task baseline (hard parameter sharing): one shared backbone, one multi-scale head per task.

Auxiliary tasks are rejected (UsageError): without deep supervision they would only be extra heads.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mtbench.backbones import Backbone, build_backbone
from mtbench.nn import check_image, resize
from mtbench.openmmlab.heads import build_task_head
from mtbench.registry import register_model


class HardSharingNet(nn.Module):
    """Shared backbone -> per-task head (MultiScaleHead, or an mmseg decode head) -> bilinear to input size."""

    def __init__(self, backbone: Backbone, tasks: list[str], out_channels: dict[str, int], head: str = "hrnet") -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.aux_tasks: list[str] = []
        self.backbone = backbone
        self.heads = nn.ModuleDict({t: build_task_head(head, backbone.channels, out_channels[t]) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image(x)
        feats = self.backbone(x)
        return {t: resize(self.heads[t](feats), x.shape[-2:]) for t in self.tasks}


@register_model("mtl", aux_tasks=False)
def mtl(
    *,
    tasks: list[str],
    aux_tasks: list[str],
    out_channels: dict[str, int],
    backbone: str = "hrnet18",
    pretrained: str | bool | None = None,
    head: str = "hrnet",
) -> HardSharingNet:
    """Multi-task baseline: shared backbone, one head per task (hard parameter sharing).

    ``head``: "hrnet" (the MTI-Net release's multi-scale head) or "mmseg:TYPE[,key=value...]" (an mmseg decode
    head, optional extra; see mtbench.openmmlab.heads).
    """
    return HardSharingNet(build_backbone(backbone, pretrained), tasks, out_channels, head)
