"""MTI-Net (Vandenhende, Georgoulis, Van Gool, ECCV 2020): multi-scale multi-modal distillation.

Sections of DESIGN.md "MTI-Net": initial task predictions at all four scales for every task in
A = tasks ∪ aux_tasks, feature propagation (FPM) from coarse to fine, distillation at every scale into
each main task, feature aggregation by the multi-scale head, deep supervision at every scale
(``aux["scale0".."scale3"]``, training mode only). ``fpm=False`` is the paper's "w/o FPM" ablation:
each scale's initial predictions then see only the backbone feature of that scale.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn

from mtbench.backbones import Backbone, build_backbone
from mtbench.errors import UsageError
from mtbench.nn import MultiScaleHead, MultiTaskDistillation, check_image, resize
from mtbench.registry import register_model
from mtinet.modules import DEFAULT_FPM_SOFTMAX, FPM_SOFTMAX, FeaturePropagation, InitialPrediction, resolve_fpm_softmax


class MTINet(nn.Module):
    """Forward: ``{task: B×C×H×W}`` for main tasks; in training also ``aux={"scale<s>": {task: ...}}``."""

    def __init__(
        self,
        backbone: Backbone,
        tasks: list[str],
        aux_tasks: list[str],
        out_channels: dict[str, int],
        fpm: bool = True,
        fpm_softmax: str = DEFAULT_FPM_SOFTMAX,
    ) -> None:
        super().__init__()
        self.tasks, self.aux_tasks = list(tasks), list(aux_tasks)
        self.all_tasks = self.tasks + self.aux_tasks
        self.use_fpm, self.fpm_softmax = fpm, resolve_fpm_softmax(fpm_softmax)
        self.backbone = backbone
        ch = list(backbone.channels)
        n_scales = len(ch)
        self.initial = nn.ModuleList(
            [
                InitialPrediction(
                    self.all_tasks, ch[s] + (ch[s + 1] if fpm and s < n_scales - 1 else 0), ch[s], out_channels
                )
                for s in range(n_scales)
            ]
        )
        # fpm[s] propagates scale s+1's features to scale s (scales 3, 2, 1 feed 2, 1, 0)
        self.fpm = (
            nn.ModuleList([FeaturePropagation(self.all_tasks, ch[s], self.fpm_softmax) for s in range(1, n_scales)])
            if fpm
            else None
        )
        self.distill = nn.ModuleList([MultiTaskDistillation(self.tasks, self.all_tasks, c) for c in ch])
        self.heads = nn.ModuleDict({t: MultiScaleHead(ch, out_channels[t]) for t in self.tasks})

    def protocol(self) -> dict[str, str]:
        """The protocol choices this model makes, for the run record (the FPM variant, also when default)."""
        return {"fpm": f"softmax={self.fpm_softmax}" if self.use_fpm else "none (w/o FPM ablation)"}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | dict]:
        check_image(x)
        size = x.shape[-2:]
        feats = self.backbone(x)
        n = len(feats)
        task_feats: list[dict[str, torch.Tensor]] = [{}] * n
        preds: list[dict[str, torch.Tensor]] = [{}] * n
        prev = None
        for s in range(n - 1, -1, -1):
            if self.training:
                task_feats[s], preds[s] = self.initial[s](feats[s], prev)
            else:  # predictions at intermediate scales are only needed for deep supervision
                task_feats[s] = cast(InitialPrediction, self.initial[s]).features(feats[s], prev)
            if self.fpm is not None and s > 0:
                prev = self.fpm[s - 1](task_feats[s])
        distilled = [self.distill[s](task_feats[s]) for s in range(n)]
        out: dict[str, torch.Tensor | dict] = {
            t: resize(self.heads[t]([d[t] for d in distilled]), size) for t in self.tasks
        }
        if self.training:
            out["aux"] = {f"scale{s}": {t: resize(p, size) for t, p in preds[s].items()} for s in range(n)}
        return out


@register_model("mtinet", aux_tasks=True)
def mtinet(
    *,
    tasks: list[str],
    aux_tasks: list[str],
    out_channels: dict[str, int],
    backbone: str = "hrnet18",
    pretrained: str | bool | None = None,
    fpm: bool = True,
    fpm_softmax: str = DEFAULT_FPM_SOFTMAX,
) -> MTINet:
    """MTI-Net: multi-scale initial predictions, FPM, distillation at every scale, aggregation head.
    ``fpm_softmax``: 'release' (default, the released code's grouped softmax) or 'paper' (across tasks)."""
    try:
        fpm_softmax = resolve_fpm_softmax(fpm_softmax)
    except ValueError:
        raise UsageError(
            f"--set model.kwargs.fpm_softmax={fpm_softmax}: expected one of {', '.join(FPM_SOFTMAX)}."
        ) from None
    if not isinstance(fpm, bool):
        raise UsageError(f"--set model.kwargs.fpm={fpm}: expected true or false.")
    return MTINet(build_backbone(backbone, pretrained), tasks, list(aux_tasks), out_channels, fpm, fpm_softmax)
