"""mmsegmentation backbones behind mtbench's backbone contract (optional ``[openmmlab]`` extra).

``--backbone mmseg:SPEC`` where SPEC is a registered mmseg backbone type or an mmseg config file
(its ``model.backbone`` is used), optionally followed by comma-separated ``key=value`` overrides
(values are Python literals, else strings), e.g. ``mmseg:MixVisionTransformer,embed_dims=32`` or
``mmseg:configs/hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py`` (parsing and config files: ``common``).
``mmseg:HRNet`` without ``extra`` is HRNetV2-W18-Small-v2 (mmseg's hr18s = mtbench's hrnet18).
SyncBN in a config becomes BN (one process, CPU), and ``Pretrained`` init entries are dropped (no
downloads): pass ``--pretrained PATH`` to an mmseg checkpoint (its ``backbone.*`` weights are used)
or to a bare backbone state dict (read by ``mtbench.backbones.weights`` with the safe loader: its mmengine
metadata is read as inert data, never a full unpickle unless ``--trust-checkpoint``). Output channels and
strides are read by a dry forward. An mmseg config file is Python code that mmengine executes: only use
config files you trust.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn

from mtbench.backbones.base import Backbone, stride_indices
from mtbench.backbones.weights import load_local_weights, weights_source
from mtbench.errors import UsageError
from mtbench.openmmlab.common import (
    config_section,
    parse_spec,
    quiet_init_weights,
    require_openmmlab,
    resolve_config,
    sanitize_cfg,
)

_PROBE_HW = 64
# mmseg's hr18s (fcn_hr18s configs) = HRNetV2-W18-Small-v2, the MTI-Net release's backbone.
HRNET_W18_SMALL_V2: dict[str, Any] = {
    "stage1": {"num_modules": 1, "num_branches": 1, "block": "BOTTLENECK", "num_blocks": (2,), "num_channels": (64,)},
    "stage2": {"num_modules": 1, "num_branches": 2, "block": "BASIC", "num_blocks": (2, 2), "num_channels": (18, 36)},
    "stage3": {
        "num_modules": 3,
        "num_branches": 3,
        "block": "BASIC",
        "num_blocks": (2, 2, 2),
        "num_channels": (18, 36, 72),
    },
    "stage4": {
        "num_modules": 2,
        "num_branches": 4,
        "block": "BASIC",
        "num_blocks": (2, 2, 2, 2),
        "num_channels": (18, 36, 72, 144),
    },
}


def backbone_cfg(spec: str) -> dict[str, Any]:
    """The mmseg backbone config dict that ``--backbone spec`` denotes (type or config + overrides)."""
    target, overrides = parse_spec(spec, "--backbone")
    path = resolve_config(target, "--backbone")
    cfg: dict[str, Any] = config_section(path, "backbone", "--backbone") if path else {"type": target}
    cfg.update(overrides)
    if cfg.get("type") == "HRNet" and "extra" not in cfg:
        cfg["extra"] = copy.deepcopy(HRNET_W18_SMALL_V2)
    return sanitize_cfg(cfg)


class MmsegBackbone(Backbone):
    """A :class:`Backbone` built by mmseg; ``cfg``: the config it was built from."""

    def __init__(
        self, body: nn.Module, indices: list[int], channels: list[int], cfg: dict[str, Any], source: str
    ) -> None:
        super().__init__(body, indices, channels, source)
        self.cfg = cfg


def _probe(body: nn.Module, name: str) -> tuple[list[int], list[int]]:
    """Dry forward at 64×64: indices of the maps at strides 4..32 and their channels."""
    was_training = body.training
    body.eval()
    try:
        with torch.no_grad():
            outs = body(torch.zeros(1, 3, _PROBE_HW, _PROBE_HW))
    except Exception as e:
        raise UsageError(
            f"--backbone {name}: dry forward at {_PROBE_HW}x{_PROBE_HW} failed ({type(e).__name__}: {e})"
        ) from e
    finally:
        body.train(was_training)
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    strides = [_PROBE_HW // o.shape[-1] if o.ndim == 4 else 0 for o in outs]
    idx = stride_indices(
        strides,
        f"--backbone {name}: the mmseg backbone",
        " (a dilated ResNet needs dilations=(1,1,1,1),strides=(1,2,2,2))",
    )
    return idx, [int(outs[i].shape[1]) for i in idx]


def build_mmseg_backbone(name: str, pretrained: str | bool | None = None) -> MmsegBackbone:
    """Build ``mmseg:SPEC`` through mmseg's registry; see the module docstring for SPEC."""
    require_openmmlab(f"--backbone {name}")
    from mmseg.registry import MODELS

    cfg = backbone_cfg(name)
    try:
        body = MODELS.build(copy.deepcopy(cfg))
    except Exception as e:
        raise UsageError(
            f"--backbone {name}: mmseg could not build {cfg.get('type')!r} ({type(e).__name__}: {e})"
        ) from e
    quiet_init_weights(body)
    hub, local = weights_source(pretrained)
    if hub:
        raise UsageError(
            f"--pretrained {pretrained}: mmseg backbones load a local checkpoint file only (give its path)"
        )
    if local:
        if not local.is_file():
            raise UsageError(f"--pretrained {local}: no such file (an mmseg checkpoint or backbone state dict)")
        # an mmseg checkpoint's backbone.* tensors (its metadata is read as inert data), or a bare state dict
        load_local_weights(body, local, select="backbone.")
    idx, channels = _probe(body, name)
    return MmsegBackbone(body, idx, channels, cfg, name)
