"""Single-task baseline: backbone + multi-scale (HRNet) head for one task; the Δm reference.

Auxiliary tasks are rejected (UsageError): a single-task model has no deep supervision to use them.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mtbench.backbones import Backbone, build_backbone
from mtbench.nn import check_image, resize
from mtbench.openmmlab.heads import build_task_head
from mtbench.registry import register_model


class SingleTaskNet(nn.Module):
    """Backbone -> head (MultiScaleHead, or an mmseg decode head) -> bilinear to input size; ``{task: B×C×H×W}``."""

    def __init__(self, backbone: Backbone, task: str, num_outputs: int, head: str = "hrnet") -> None:
        super().__init__()
        self.tasks = [task]
        self.aux_tasks: list[str] = []
        self.backbone = backbone
        self.head = build_task_head(head, backbone.channels, num_outputs)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image(x)
        return {self.tasks[0]: resize(self.head(self.backbone(x)), x.shape[-2:])}


@register_model("single_task", aux_tasks=False, one_net_per_task=True)
def single_task(
    *,
    tasks: list[str],
    aux_tasks: list[str],
    out_channels: dict[str, int],
    backbone: str = "hrnet18",
    pretrained: str | bool | None = None,
    head: str = "hrnet",
) -> SingleTaskNet:
    """Single-task baseline: backbone + head for exactly one task (the Δm reference).

    ``head``: "hrnet" (the MTI-Net release's multi-scale head) or "mmseg:TYPE[,key=value...]" (an mmseg decode
    head, optional extra; see mtbench.openmmlab.heads).
    """
    return SingleTaskNet(build_backbone(backbone, pretrained), tasks[0], out_channels[tasks[0]], head)
