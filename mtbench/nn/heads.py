"""Multi-scale aggregation (the HRNet head of the MTI-Net release), shared by several models.

Upsample every scale to the finest (bilinear), concatenate (Σ C_s channels), 1×1 conv with bias
keeping Σ C_s, BatchNorm, ReLU; the head then adds a 1×1 conv with bias to the task's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def upsample_concat(feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """Bilinearly resize every map to the first one's size and concatenate along channels."""
    size = feats[0].shape[-2:]
    ups = [feats[0]] + [F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in feats[1:]]
    return torch.cat(ups, dim=1)


class MultiScaleFuse(nn.Module):
    """Upsample + concatenate the scales, then 1×1 conv (bias) Σ C_s→Σ C_s, BN, ReLU."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        total = int(sum(channels))
        self.out_channels = total
        self.fuse = nn.Sequential(nn.Conv2d(total, total, 1), nn.BatchNorm2d(total), nn.ReLU(inplace=True))

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.fuse(upsample_concat(feats))


class MultiScaleHead(nn.Module):
    """MultiScaleFuse followed by a 1×1 conv (bias) to ``num_outputs``; output at the finest scale."""

    def __init__(self, channels: Sequence[int], num_outputs: int) -> None:
        super().__init__()
        self.fuse = MultiScaleFuse(channels)
        self.classifier = nn.Conv2d(self.fuse.out_channels, num_outputs, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.fuse(feats))
