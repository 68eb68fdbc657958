"""Residual building blocks shared by the models: basic block, bottleneck, squeeze-and-excitation.

Layer facts follow the MTI-Net release (3×3 and 1×1 convs without bias, BatchNorm after each conv,
projection shortcut = 1×1 conv without bias + BatchNorm where the channel count changes).
"""

from __future__ import annotations

import torch
import torch.nn as nn


def conv_bn(in_ch: int, out_ch: int, kernel: int = 1) -> nn.Sequential:
    """Conv (no bias, 'same' padding) + BatchNorm: the projection shortcut of the residual blocks."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(out_ch))


def _add_residual(out: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
    """``out + shortcut``, in place into ``out`` (a BatchNorm output, which BN's backward does not need) when the
    dtypes agree: the same sums without a new activation-sized tensor per block (the release's ``out +=``)."""
    if out.dtype == shortcut.dtype and out.shape == shortcut.shape:
        return out.add_(shortcut)
    return out + shortcut


class BasicBlock(nn.Module):
    """3×3 conv-BN-ReLU, 3×3 conv-BN, add shortcut (1×1 conv-BN projection when channels change), ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = conv_bn(in_ch, out_ch) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(_add_residual(out, self.shortcut(x)))


class Bottleneck(nn.Module):
    """ResNet bottleneck (expansion 4): 1×1 in→out/4, 3×3 out/4→out/4, 1×1 out/4→out, each with BN;
    shortcut is a 1×1 conv-BN projection when ``in_ch != out_ch``."""

    expansion = 4

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        if out_ch % self.expansion:
            raise ValueError(f"Bottleneck out_ch must be divisible by {self.expansion}, got {out_ch}")
        mid = out_ch // self.expansion
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = conv_bn(in_ch, out_ch) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(_add_residual(out, self.shortcut(x)))


class SqueezeExcitation(nn.Module):
    """Channel re-weighting: global average pool, Linear C→C/r, ReLU, Linear C/r→C, sigmoid (both
    Linears with bias), multiply the input channel-wise."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc(x.mean(dim=(2, 3)))
        return x * w[:, :, None, None]
