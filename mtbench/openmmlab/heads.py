"""Per-task heads for the single-task and hard-sharing baselines: mtbench's HRNet head or an mmseg decode head.

``head="hrnet"`` (default): :class:`mtbench.nn.MultiScaleHead`. ``head="mmseg:SPEC"`` (optional
``[openmmlab]`` extra): an mmseg decode head, SPEC being a registered head type or an mmseg config
file (its ``model.decode_head``), plus comma-separated ``key=value`` overrides, e.g.
``mmseg:ASPPHead,dilations=(1,12,24,36)``. mtbench sets ``num_classes``/``out_channels`` to the
task's output channels and ``in_channels`` from the backbone. Defaults for a head type: ``channels``
256, BN, and the coarsest map (stride 32, ``in_index=3``, DeepLab style) as input; heads that consume
every scale (Segformer, UPer, FPN, ...) get all four maps; ``in_index=[0,1,2,3],input_transform=
resize_concat`` gives the FCN-on-HRNet style. The head's own loss modules are unused: mtbench's task
losses train it. Output at the input map's stride; the model resizes it to the input size.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from mtbench.errors import UsageError
from mtbench.nn import MultiScaleHead
from mtbench.openmmlab.common import (
    PREFIX,
    config_section,
    parse_spec,
    quiet_init_weights,
    require_openmmlab,
    resolve_config,
    sanitize_cfg,
)

HEADS = ("hrnet", "mmseg:<TYPE or config.py>[,key=value...]")
# mmseg 1.2.2 heads whose constructor forces input_transform='multiple_select' (they take every scale).
_MULTI_INPUT = {"ANNHead", "EncHead", "FPNHead", "LightHamHead", "SegformerHead", "SETRMLAHead", "UPerHead"}


class MmsegHead(nn.Module):
    """Wraps an mmseg decode head: list of backbone maps -> B×num_outputs×h×w (before resizing)."""

    def __init__(self, head: nn.Module, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.head = head
        self.cfg = cfg

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.head(list(feats))


def _inputs(cfg: dict[str, Any], channels: Sequence[int]) -> dict[str, Any]:
    """Fill in_index / in_channels / input_transform for mtbench's four maps."""
    multi = cfg.get("type") in _MULTI_INPUT or cfg.get("input_transform") in ("resize_concat", "multiple_select")
    index = cfg.get("in_index", [0, 1, 2, 3] if multi else 3)
    if isinstance(index, (list, tuple)):
        try:
            in_channels: Any = [int(channels[i]) for i in index]
        except IndexError:
            raise UsageError(f"model.kwargs.head: in_index {index} outside the backbone's 4 maps") from None
        index = list(index)
    else:
        if not multi and not -len(channels) <= int(index) < len(channels):
            raise UsageError(f"model.kwargs.head: in_index {index} outside the backbone's 4 maps")
        in_channels = int(channels[int(index)])
    return {"in_index": index, "in_channels": in_channels}


def mmseg_head_cfg(spec: str, channels: Sequence[int], num_outputs: int) -> dict[str, Any]:
    """The mmseg decode-head config for ``spec`` on a backbone with ``channels``, ``num_outputs`` outputs."""
    target, overrides = parse_spec(spec, "model.kwargs.head")
    path = resolve_config(target, "model.kwargs.head")
    if path:
        cfg = config_section(path, "decode_head", "model.kwargs.head")
        cfg.pop("in_channels", None)  # sized for the config's backbone; mtbench's is used instead
    else:
        cfg = {"type": target, "channels": 256, "norm_cfg": {"type": "BN", "requires_grad": True}}
    cfg.update(overrides)
    cfg.update(_inputs(cfg, channels))
    cfg.update(num_classes=int(num_outputs), out_channels=int(num_outputs))
    if num_outputs == 1:
        cfg.setdefault("threshold", 0.5)  # only silences mmseg's binary-segmentation warning
    cfg.pop("loss_decode", None)  # unused (mtbench's task losses train the head)
    return sanitize_cfg(cfg)


def build_mmseg_head(spec: str, channels: Sequence[int], num_outputs: int) -> MmsegHead:
    """Build an mmseg decode head through mmseg's registry (see the module docstring)."""
    require_openmmlab(f"model.kwargs.head={spec}")
    from mmseg.registry import MODELS

    cfg = mmseg_head_cfg(spec, channels, num_outputs)
    try:
        with warnings.catch_warnings():  # mmseg warns about its own loss defaults, unused here
            warnings.filterwarnings("ignore", category=UserWarning, module=r"mmseg\.")
            head = MODELS.build(copy.deepcopy(cfg))
    except Exception as e:
        raise UsageError(
            f"model.kwargs.head={spec}: mmseg could not build {cfg.get('type')!r} ({type(e).__name__}: {e})"
        ) from e
    quiet_init_weights(head)
    return MmsegHead(head, cfg)


def build_task_head(head: str, channels: Sequence[int], num_outputs: int) -> nn.Module:
    """``"hrnet"`` -> MultiScaleHead; ``"mmseg:SPEC"`` -> MmsegHead; else a UsageError naming the choices."""
    if head == "hrnet":
        return MultiScaleHead(channels, num_outputs)
    if isinstance(head, str) and head.startswith(PREFIX):
        return build_mmseg_head(head, channels, num_outputs)
    raise UsageError(f"Unknown head '{head}' (model.kwargs.head); choose one of: {', '.join(HEADS)}")
