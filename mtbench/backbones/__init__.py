"""Backbones: four feature maps at strides 4/8/16/32 with their channel counts, built with timm.

``build_backbone(name, pretrained)``: ``name`` in BACKBONES, ``timm:<arch>`` or ``mmseg:<type or config>``
(the optional OpenMMLab extra, see mtbench.openmmlab.backbone); ``pretrained`` None or
False (random init), True / 'timm' / 'imagenet' (timm's hub or cache), or a path to a local
checkpoint (HRNet-Image-Classification, timm or torchvision layout).
"""

from __future__ import annotations

from mtbench.backbones.base import Backbone
from mtbench.backbones.timm_backbone import _NAMED, create_body, resolve_name
from mtbench.backbones.weights import load_local_weights, weights_source
from mtbench.errors import UsageError

BACKBONES: dict[str, str] = {name: desc for name, (_, _, desc) in _NAMED.items()}


def build_backbone(name: str, pretrained: str | bool | None = None) -> Backbone:
    """Build a backbone; its forward returns a list of 4 maps, ``.channels`` their channel counts."""
    if name.startswith("mmseg:"):
        from mtbench.openmmlab.backbone import build_mmseg_backbone

        return build_mmseg_backbone(name, pretrained)
    arch, extra = resolve_name(name)
    hub, local = weights_source(pretrained)
    if local and not local.is_file():
        raise UsageError(f"--pretrained {pretrained}: no such file (give a checkpoint path, or 'timm' for the hub).")
    body, idx, channels = create_body(arch, extra, pretrained_hub=hub)
    if local:
        load_local_weights(body, local)
    return Backbone(body, idx, channels, f"timm:{arch}")


__all__ = ["BACKBONES", "Backbone", "build_backbone", "load_local_weights"]
