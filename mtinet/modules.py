"""MTI-Net's own modules: initial task predictions at one scale and the feature propagation module."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mtbench.nn import BasicBlock, SqueezeExcitation

# "release": softmax over groups of N adjacent channels of the concatenation (the released code, which
# produced the published numbers; the default); "paper": softmax across the task axis (the paper's text).
FPM_SOFTMAX = ("release", "paper")
DEFAULT_FPM_SOFTMAX = "release"
_FPM_ALIASES = {"official": "release"}  # the name used before 2026-11-30


def resolve_fpm_softmax(name: str) -> str:
    """The canonical FPM softmax variant for ``name`` (accepts the old alias 'official'); ValueError if unknown."""
    name = _FPM_ALIASES.get(name, name)
    if name not in FPM_SOFTMAX:
        raise ValueError(f"fpm_softmax must be one of {', '.join(FPM_SOFTMAX)}, got '{name}'")
    return name


class InitialPrediction(nn.Module):
    """Per task: two basic blocks (in_ch → ch → ch) and a 1×1 conv (bias) to the task's outputs.

    ``forward(feat, prev)``: ``prev`` ({task: B×C'×h×w} from the coarser scale's FPM, or None) is
    upsampled 2× and concatenated to the backbone feature per task. Returns (features, predictions).
    """

    def __init__(self, tasks: list[str], in_ch: int, ch: int, out_channels: dict[str, int]) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.refine = nn.ModuleDict({t: nn.Sequential(BasicBlock(in_ch, ch), BasicBlock(ch, ch)) for t in tasks})
        self.predict = nn.ModuleDict({t: nn.Conv2d(ch, out_channels[t], 1) for t in tasks})

    def features(self, feat: torch.Tensor, prev: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        out = {}
        for t in self.tasks:
            x = feat
            if prev is not None:
                up = F.interpolate(prev[t], size=feat.shape[-2:], mode="bilinear", align_corners=False)
                x = torch.cat([feat, up], dim=1)
            out[t] = self.refine[t](x)
        return out

    def forward(
        self, feat: torch.Tensor, prev: dict[str, torch.Tensor] | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        feats = self.features(feat, prev)
        return feats, {t: self.predict[t](f) for t, f in feats.items()}


class FeaturePropagation(nn.Module):
    """FPM: share information between the N tasks' features of one scale (C channels each).

    f = BasicBlock(N·C→N·C/4), BasicBlock(N·C/4→N·C/4), 1×1 conv (bias) N·C/4→N·C on the concatenated
    features; softmax over tasks gives masks that weight the concatenation; BasicBlock N·C→C; per task
    squeeze-and-excitation of that shared feature plus the task's own feature (residual).
    ``softmax='release'`` (default) normalises over groups of N adjacent channels of the concatenation,
    as the released code does; ``'paper'`` across the task axis (channel c of every task), as the text.
    """

    def __init__(self, tasks: list[str], channels: int, softmax: str = DEFAULT_FPM_SOFTMAX) -> None:
        super().__init__()
        self.tasks, self.softmax = list(tasks), resolve_fpm_softmax(softmax)
        n, c = len(tasks), channels
        shared = n * c
        self.nonlinear = nn.Sequential(
            BasicBlock(shared, shared // 4), BasicBlock(shared // 4, shared // 4), nn.Conv2d(shared // 4, shared, 1)
        )
        self.reduce = BasicBlock(shared, c)
        self.se = nn.ModuleDict({t: SqueezeExcitation(c) for t in tasks})

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        concat = torch.cat([feats[t] for t in self.tasks], dim=1)
        b, nc, h, w = concat.shape
        n = len(self.tasks)
        logits = self.nonlinear(concat)
        # paper: (B, N tasks, C, H, W) softmax over tasks; release: (B, C, N, H, W) over adjacent channels
        shape = (b, n, nc // n, h, w) if self.softmax == "paper" else (b, nc // n, n, h, w)
        dim = 1 if self.softmax == "paper" else 2
        mask = torch.softmax(logits.reshape(shape), dim=dim)
        shared = self.reduce((mask * concat.reshape(shape)).reshape(b, nc, h, w))
        return {t: self.se[t](shared) + feats[t] for t in self.tasks}
