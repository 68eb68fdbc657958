"""Multi-modal distillation by spatial attention (PAD-Net at one scale, MTI-Net at every scale).

For each main task k: F_k' = F_k + Σ_{l≠k} σ(W_{k,l} F_l) ⊙ (W'_{k,l} F_l), with W, W' 3×3 convs
without bias, l running over all tasks whose features are given (main and auxiliary).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn


class SpatialAttention(nn.Module):
    """σ(W x) ⊙ (W' x), W and W' 3×3 convs C_in→C_out without bias."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.gate = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.value = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gate(x)) * self.value(x)


class MultiTaskDistillation(nn.Module):
    """Distil every source task's features into each target task's by spatial attention (residual).

    ``targets``: the tasks whose refined features are returned (main tasks); ``sources``: every task
    with features (main ∪ auxiliary). ``forward(feats: {task: B×C×H×W}) -> {target: B×C×H×W}``.
    """

    def __init__(self, targets: list[str], sources: list[str], channels: int) -> None:
        super().__init__()
        self.targets = list(targets)
        self.sources = list(sources)
        self.attn = nn.ModuleDict(
            {
                t: nn.ModuleDict({s: SpatialAttention(channels, channels) for s in self.sources if s != t})
                for t in self.targets
            }
        )

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for t in self.targets:
            y = feats[t]
            for s, block in cast(nn.ModuleDict, self.attn[t]).items():
                y = y + block(feats[s])
            out[t] = y
        return out
