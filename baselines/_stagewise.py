"""Shared frame of cross-stitch networks and NDDR-CNN: one ResNet per task, a fusion unit after every
stage, a multi-scale head per task on that task's four fused stage outputs.

The MTI-Net release trains both in two stages: each task's ResNet and head start from that task's trained
single-task model (``init_from``), and the fusion units learn at ``unit_lr_mult`` (100) × the base
learning rate. (The release builds that optimiser group, then its per-epoch ``adjust_learning_rate`` sets
every group to the scheduled base lr, so there the 100× lasts only until the first epoch begins;
``unit_lr_mult=1`` reproduces that.)"""

from __future__ import annotations

import copy
from typing import cast

import torch
import torch.nn as nn

from mtbench.backbones import build_backbone
from mtbench.backbones.stages import resnet_stages
from mtbench.errors import UsageError
from mtbench.nn import MultiScaleHead, check_image, resize


class StagewiseMultiNet(nn.Module):
    """Per-task ResNets whose stage outputs are fused across tasks by ``make_unit(tasks, channels)``."""

    def __init__(
        self,
        model: str,
        backbone: str,
        pretrained,
        tasks: list[str],
        out_channels: dict[str, int],
        make_unit,
        init_from: str | list[str] | None = None,
        unit_lr_mult: float = 100.0,
    ) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.aux_tasks: list[str] = []
        if init_from and pretrained:
            raise UsageError(f"{model}: give model.kwargs.init_from (single-task runs) or --pretrained, not both")
        bb = build_backbone(backbone, None if init_from else pretrained)
        stages = resnet_stages(bb, model)
        self.channels = list(bb.channels)
        self.nets = nn.ModuleDict({t: copy.deepcopy(stages) for t in self.tasks})
        self.units = nn.ModuleList([make_unit(self.tasks, c) for c in self.channels])
        self.heads = nn.ModuleDict({t: MultiScaleHead(self.channels, out_channels[t]) for t in self.tasks})
        if unit_lr_mult <= 0:
            raise UsageError(f"model.kwargs.unit_lr_mult={unit_lr_mult}: must be > 0")
        self.lr_multipliers = {"units.": float(unit_lr_mult)}  # read by mtbench.engine.optim.build_optimizer
        self.init_source = (
            "single-task checkpoints" if init_from else ("pretrained backbone" if pretrained else "random")
        )
        if init_from:
            self._load_single_task(init_from, backbone)

    def _load_single_task(self, init_from: str | list[str], backbone: str) -> None:
        """Each task's stages and head from its single-task checkpoint (its backbone and head weights)."""
        from mtbench.engine.init_from import load_part, single_task_weights

        for t, state in single_task_weights(init_from, self.tasks, backbone).items():
            bb = build_backbone(backbone, None)
            load_part(bb, state, "backbone.", f"the {backbone} backbone of task '{t}'")
            self.nets[t] = copy.deepcopy(resnet_stages(bb, "init_from"))
            load_part(self.heads[t], state, "head.", f"the head of task '{t}'")

    def protocol(self) -> dict[str, str]:
        """For the run record: how the task networks were initialised and the fusion units' lr multiplier."""
        return {"init": self.init_source, "unit_lr": f"{self.lr_multipliers['units.']:g}x"}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image(x)
        h = {t: x for t in self.tasks}
        per_stage: list[dict[str, torch.Tensor]] = []
        for s, unit in enumerate(self.units):
            h = unit({t: cast(nn.ModuleList, self.nets[t])[s](h[t]) for t in self.tasks})
            per_stage.append(h)
        return {t: resize(self.heads[t]([f[t] for f in per_stage]), x.shape[-2:]) for t in self.tasks}
