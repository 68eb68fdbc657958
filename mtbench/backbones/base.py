"""The backbone contract shared by the timm and mmseg backbones: four feature maps at strides 4, 8, 16, 32."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from mtbench.errors import UsageError

STRIDES = (4, 8, 16, 32)


class Backbone(nn.Module):
    """A feature network (timm features_only, or an mmseg backbone) returning the maps at strides 4, 8, 16,
    32 as a list.

    ``body``: the network; ``indices``: which of its outputs are those maps; ``channels``: their channel
    counts; ``source``: what built it ('timm:<architecture>' or the mmseg spec).
    """

    def __init__(self, body: nn.Module, indices: list[int], channels: list[int], source: str) -> None:
        super().__init__()
        self.body = body
        self.indices = indices
        self.channels = channels
        self.source = source

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.body(x)
        return [feats[i] for i in self.indices]


def stride_indices(strides: Sequence[int], what: str, hint: str = "") -> list[int]:
    """Indices of a network's outputs at strides 4, 8, 16, 32, given each output's stride; of several outputs
    at one stride the last (deepest). A missing stride is a UsageError naming ``what`` (e.g. "timm backbone
    'x'"), the strides found and ``hint``."""
    idx = []
    for s in STRIDES:
        hits = [i for i, r in enumerate(strides) if r == s]
        if not hits:
            raise UsageError(
                f"{what} has no feature map at stride {s} (strides: {list(strides)}); "
                f"mtbench needs strides 4, 8, 16, 32{hint}."
            )
        idx.append(hits[-1])
    return idx
