"""Multi-scale backbones built with timm ``features_only``: four feature maps at strides 4, 8, 16, 32."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch.nn as nn

from mtbench.backbones.base import stride_indices
from mtbench.errors import MtbenchError, UsageError, unknown_name

if TYPE_CHECKING:
    from timm.models import FeatureInfo

# name -> (timm model name, extra timm kwargs, description)
_NAMED: dict[str, tuple[str, dict, str]] = {
    "hrnet18": (
        "hrnet_w18_small_v2",
        {"feature_location": "", "out_indices": (1, 2, 3, 4)},
        "HRNetV2-W18-Small-v2, the MTI-Net release's hrnet_w18 (channels 18/36/72/144)",
    ),
    "hrnet48": (
        "hrnet_w48",
        {"feature_location": "", "out_indices": (1, 2, 3, 4)},
        "HRNetV2-W48 (channels 48/96/192/384)",
    ),
    "resnet18": ("resnet18", {"out_indices": (1, 2, 3, 4)}, "ResNet-18 stages 1-4 (channels 64/128/256/512)"),
    "resnet50": ("resnet50", {"out_indices": (1, 2, 3, 4)}, "ResNet-50 stages 1-4 (channels 256/512/1024/2048)"),
}


def resolve_name(name: str) -> tuple[str, dict]:
    """mtbench backbone name (or ``timm:<arch>``) -> (timm architecture, extra create kwargs)."""
    import timm

    if name in _NAMED:
        arch, extra, _ = _NAMED[name]
        return arch, dict(extra)
    if name.startswith("timm:"):
        arch = name[len("timm:") :]
        if not timm.is_model(arch):
            close = timm.list_models(f"{arch[:4]}*")[:5]
            raise UsageError(
                f"Unknown timm architecture '{arch}' in --backbone {name}; "
                f"similar: {', '.join(close) or 'none'} (see timm.list_models())."
            )
        return arch, ({"feature_location": ""} if arch.startswith("hrnet") else {})
    raise unknown_name("backbone", name, list(_NAMED) + ["timm:<name>"], "Run 'mtbench list backbones'.")


def _feature_info(body: nn.Module) -> FeatureInfo:
    """A timm ``features_only`` model's ``feature_info`` (nn.Module's ``__getattr__`` types it Tensor | Module)."""
    return cast("FeatureInfo", body.feature_info)


def create_body(arch: str, extra: dict, pretrained_hub: bool) -> tuple[nn.Module, list[int], list[int]]:
    """Create the timm features model; return (model, indices of strides 4..32, their channels)."""
    import timm

    try:
        body = timm.create_model(arch, features_only=True, pretrained=pretrained_hub, **extra)
        idx = stride_indices(list(_feature_info(body).reduction()), f"timm backbone '{arch}'")
        n_out = len(_feature_info(body).reduction())
        if idx[-1] != n_out - 1 or len(idx) != n_out:
            # Re-create with just the needed stages so no unused (gradient-less) parameters remain.
            extra = {**extra, "out_indices": tuple(_feature_info(body).out_indices[i] for i in idx)}
            body = timm.create_model(arch, features_only=True, pretrained=pretrained_hub, **extra)
            idx = list(range(4))
    except MtbenchError:
        raise
    except Exception as e:  # timm raises plain exceptions for offline hubs, bad kwargs, ...
        what = "download/load ImageNet weights for" if pretrained_hub else "build"
        hint = " (offline? pass --pretrained PATH to a local checkpoint)" if pretrained_hub else ""
        raise MtbenchError(f"Could not {what} timm backbone '{arch}': {type(e).__name__}: {e}{hint}") from e
    channels = [int(_feature_info(body).channels()[i]) for i in idx]
    return body, idx, channels
