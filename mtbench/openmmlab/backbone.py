"""mmsegmentation backbones behind mtbench's backbone contract (optional ``[openmmlab]`` extra).

``--backbone mmseg:SPEC`` where SPEC is a registered mmseg backbone type or an mmseg config file
(its ``model.backbone`` is used), optionally followed by comma-separated ``key=value`` overrides
(values are Python literals, else strings), e.g. ``mmseg:MixVisionTransformer,embed_dims=32`` or
``mmseg:configs/hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py``. Config paths are looked up as
given, then inside the installed mmsegmentation package's bundled configs (``mmseg/.mim``).
``mmseg:HRNet`` without ``extra`` is HRNetV2-W18-Small-v2 (mmseg's hr18s = mtbench's hrnet18).
SyncBN in a config becomes BN (one process, CPU), and ``Pretrained`` init entries are dropped (no
downloads): pass ``--pretrained PATH`` to an mmseg checkpoint (its ``backbone.*`` weights are used)
or to a bare backbone state dict (read by ``mtbench.backbones.weights`` with the safe loader: its mmengine
metadata is read as inert data, never a full unpickle unless ``--trust-checkpoint``). Output channels and
strides are read by a dry forward. An mmseg config file is Python code that mmengine executes: only use
config files you trust.
"""
from __future__ import annotations

import ast
import copy
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mtbench.backbones.timm_backbone import Backbone
from mtbench.backbones.weights import load_local_weights, weights_source
from mtbench.errors import DataError, UsageError

log = logging.getLogger(__name__)
PREFIX = "mmseg:"
INSTALL_HINT = ("needs the OpenMMLab extra (mmcv 2.1.0 with ops, mmengine, mmsegmentation): run "
                "'make openmmlab' (scripts/build_mmcv.sh, then pip install -e '.[openmmlab]')")
STRIDES = (4, 8, 16, 32)
_PROBE_HW = 64
# mmseg's hr18s (fcn_hr18s configs) = HRNetV2-W18-Small-v2, the MTI-Net release's backbone.
HRNET_W18_SMALL_V2: dict[str, Any] = {
    "stage1": {"num_modules": 1, "num_branches": 1, "block": "BOTTLENECK", "num_blocks": (2,), "num_channels": (64,)},
    "stage2": {"num_modules": 1, "num_branches": 2, "block": "BASIC", "num_blocks": (2, 2), "num_channels": (18, 36)},
    "stage3": {"num_modules": 3, "num_branches": 3, "block": "BASIC", "num_blocks": (2, 2, 2),
               "num_channels": (18, 36, 72)},
    "stage4": {"num_modules": 2, "num_branches": 4, "block": "BASIC", "num_blocks": (2, 2, 2, 2),
               "num_channels": (18, 36, 72, 144)},
}


def require_openmmlab(option: str) -> None:
    """Import mmcv (with its compiled ops), mmengine and mmseg's models, or raise a one-line UsageError."""
    try:
        import mmcv.ops  # noqa: F401  (mmseg.models imports mmcv.ops at module level)
        import mmengine  # noqa: F401
        import mmseg.models  # noqa: F401  (registers backbones and heads)
    except Exception as e:  # ImportError, or mmcv-lite's missing _ext
        raise UsageError(f"{option} {INSTALL_HINT} ({type(e).__name__}: {e})") from e


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets/quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_spec(spec: str, option: str) -> tuple[str, dict[str, Any]]:
    """``mmseg:TARGET,k=v,...`` -> (TARGET, {k: literal value})."""
    body = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    parts = _split_top(body)
    if not parts or "=" in parts[0]:
        raise UsageError(f"{option} {spec}: expected mmseg:TYPE_OR_CONFIG[,key=value...], "
                         "e.g. mmseg:MixVisionTransformer")
    overrides: dict[str, Any] = {}
    for p in parts[1:]:
        key, sep, raw = p.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"{option} {spec}: '{p}' is not key=value")
        try:
            overrides[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            overrides[key.strip()] = raw.strip()
    return parts[0], overrides


def resolve_config(target: str, option: str) -> Path | None:
    """A config file path for ``target`` (as given, then in mmseg's bundled configs), or None for a type."""
    if not (target.endswith(".py") or "/" in target):
        return None
    cands = [Path(target)]
    try:
        import mmseg

        mim = Path(mmseg.__file__).parent / ".mim"
        cands += [mim / target, mim / "configs" / target]
    except ImportError:
        pass
    for c in cands:
        if c.is_file():
            return c
    raise UsageError(f"{option} mmseg:{target}: no such config file (looked in: {', '.join(map(str, cands))})")


def config_section(path: Path, key: str, option: str) -> dict[str, Any]:
    """``model.<key>`` of an mmseg config file, as a plain dict."""
    from mmengine.config import Config

    try:
        cfg = Config.fromfile(str(path))
    except Exception as e:
        raise DataError(f"{path}: cannot read mmseg config ({type(e).__name__}: {e})") from e
    section = cfg.get("model", {}).get(key)
    if not section:
        raise DataError(f"{path}: no model.{key} in this config ({option})")
    return section.to_dict() if hasattr(section, "to_dict") else dict(section)


def sanitize_cfg(cfg: Any) -> Any:
    """Deep copy with SyncBN -> BN and 'Pretrained' init entries / ``pretrained`` strings dropped."""
    if isinstance(cfg, dict):
        out = {}
        for k, v in cfg.items():
            if k == "pretrained" and isinstance(v, str):
                log.info("mmseg config: ignoring pretrained=%s (use --pretrained PATH)", v)
                continue
            if k == "init_cfg" and _is_pretrained_init(v):
                log.info("mmseg config: ignoring init_cfg %s (use --pretrained PATH)", v)
                continue
            out[k] = sanitize_cfg(v)
        if out.get("type") == "SyncBN":
            out["type"] = "BN"
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(sanitize_cfg(v) for v in cfg)
    return copy.deepcopy(cfg)


def _is_pretrained_init(v: Any) -> bool:
    items = v if isinstance(v, (list, tuple)) else [v]
    return any(isinstance(i, dict) and i.get("type") == "Pretrained" for i in items)


def backbone_cfg(spec: str) -> dict[str, Any]:
    """The mmseg backbone config dict that ``--backbone spec`` denotes (type or config + overrides)."""
    target, overrides = parse_spec(spec, "--backbone")
    path = resolve_config(target, "--backbone")
    cfg = config_section(path, "backbone", "--backbone") if path else {"type": target}
    cfg.update(overrides)
    if cfg.get("type") == "HRNet" and "extra" not in cfg:
        cfg["extra"] = copy.deepcopy(HRNET_W18_SMALL_V2)
    return sanitize_cfg(cfg)


class MmsegBackbone(Backbone):
    """A :class:`Backbone` built by mmseg; ``cfg``: the config it was built from."""

    def __init__(self, body: nn.Module, indices: list[int], channels: list[int], cfg: dict[str, Any],
                 source: str) -> None:
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
        raise UsageError(f"--backbone {name}: dry forward at {_PROBE_HW}x{_PROBE_HW} failed "
                         f"({type(e).__name__}: {e})") from e
    finally:
        body.train(was_training)
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    strides = [_PROBE_HW // o.shape[-1] if o.ndim == 4 else 0 for o in outs]
    idx = []
    for s in STRIDES:
        hits = [i for i, r in enumerate(strides) if r == s]
        if not hits:
            raise UsageError(f"--backbone {name}: mmseg backbone outputs strides {strides}; mtbench needs maps at "
                             f"strides 4, 8, 16, 32 (a dilated ResNet needs dilations=(1,1,1,1),strides=(1,2,2,2))")
        idx.append(hits[-1])
    return idx, [int(outs[i].shape[1]) for i in idx]


def quiet_init_weights(module: nn.Module) -> None:
    """mmseg's own initialisation (``init_weights``), without mmengine's per-parameter INFO log."""
    if not hasattr(module, "init_weights"):
        return
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        module.init_weights()
    finally:
        logger.setLevel(level)


def build_mmseg_backbone(name: str, pretrained: str | bool | None = None) -> MmsegBackbone:
    """Build ``mmseg:SPEC`` through mmseg's registry; see the module docstring for SPEC."""
    require_openmmlab(f"--backbone {name}")
    from mmseg.registry import MODELS

    cfg = backbone_cfg(name)
    try:
        body = MODELS.build(copy.deepcopy(cfg))
    except Exception as e:
        raise UsageError(f"--backbone {name}: mmseg could not build {cfg.get('type')!r} "
                         f"({type(e).__name__}: {e})") from e
    quiet_init_weights(body)
    hub, local = weights_source(pretrained)
    if hub:
        raise UsageError(f"--pretrained {pretrained}: mmseg backbones load a local checkpoint file only "
                         "(give its path)")
    if local:
        if not local.is_file():
            raise UsageError(f"--pretrained {local}: no such file (an mmseg checkpoint or backbone state dict)")
        # an mmseg checkpoint's backbone.* tensors (its metadata is read as inert data), or a bare state dict
        load_local_weights(body, local, select="backbone.")
    idx, channels = _probe(body, name)
    return MmsegBackbone(body, idx, channels, cfg, name)
