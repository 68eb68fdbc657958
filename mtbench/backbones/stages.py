"""Split a ResNet backbone into its four stages, for models that interleave task-specific networks
(cross-stitch, NDDR-CNN) or attend inside stages (MTAN)."""

from __future__ import annotations

import torch.nn as nn

from mtbench.errors import UsageError

_STEM = ("conv1", "bn1", "act1", "maxpool")


def resnet_stages(backbone: nn.Module, model: str) -> nn.ModuleList:
    """[stem + layer1, layer2, layer3, layer4] of a timm ResNet backbone (resnet18/50, timm:resnet*).

    Raises UsageError naming --backbone for any other backbone.
    """
    body = getattr(backbone, "body", None)
    names = list(body.keys()) if isinstance(body, nn.ModuleDict) else []
    expected = [*_STEM, "layer1", "layer2", "layer3", "layer4"]
    if not isinstance(body, nn.ModuleDict) or names[: len(expected)] != expected:
        raise UsageError(
            f"Model '{model}' needs a ResNet backbone (stages layer1-4); pass --backbone resnet18 or resnet50."
        )
    return nn.ModuleList(
        [nn.Sequential(*(body[n] for n in (*_STEM, "layer1"))), body["layer2"], body["layer3"], body["layer4"]]
    )
