"""Load ImageNet weights into a backbone from a local checkpoint file.

Accepted layouts: HRNet-Image-Classification, timm and torchvision classification checkpoints (a raw
state dict, or one wrapped in 'state_dict' / 'model' / 'state_dict_ema'; prefixes such as 'module.'
are stripped), and mmseg / mmengine checkpoints (their ``backbone.*`` tensors). Classifier keys end up
'unexpected'; the counts are logged.

Files are read as data (:mod:`mtbench.safeload`): torch's ``weights_only=True`` loader with NumPy values and
inert placeholders for the metadata objects of mmengine / mmcv / timm checkpoints; anything else is refused
in one line unless ``--trust-checkpoint`` allows a full unpickle (noted in the record).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn as nn

from mtbench.errors import DataError
from mtbench.safeload import foreign_globals, load_torch_file

log = logging.getLogger(__name__)
_WRAPPERS = ("state_dict_ema", "state_dict", "model", "model_state", "net")
_PREFIXES = ("module.", "model.", "backbone.", "encoder.", "body.")
HUB_WORDS = ("timm", "imagenet", "hub", "true")


def weights_source(pretrained: str | Path | bool | None) -> tuple[bool, Path | None]:
    """A ``--pretrained`` value -> (from timm's hub?, local checkpoint path or None)."""
    hub = pretrained is True or (isinstance(pretrained, str) and pretrained.lower() in HUB_WORDS)
    if isinstance(pretrained, (str, Path)) and not hub and str(pretrained).lower() not in ("", "none", "false"):
        return hub, Path(pretrained)  # a local checkpoint
    return hub, None


def _unwrap(obj: object) -> dict[str, torch.Tensor]:
    while isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    return {}


def _strip(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed and sd:
        changed = False
        for p in _PREFIXES:
            if sum(k.startswith(p) for k in sd) > len(sd) // 2:
                sd = {k[len(p) :] if k.startswith(p) else k: v for k, v in sd.items()}
                changed = True
    return sd


def read_weights(path: str | Path) -> object:
    """A foreign checkpoint's content, read with the safe loader (see the module docstring)."""
    obj, _ = load_torch_file(path, allow=foreign_globals())
    return obj


def load_local_weights(module: nn.Module, path: str | Path, *, select: str | None = None) -> dict[str, int]:
    """Copy matching tensors of the checkpoint at ``path`` into ``module``.

    ``select``: when some keys start with this prefix (e.g. 'backbone.' in a segmentation checkpoint),
    only those are used, prefix removed. Returns counts {'loaded', 'missing', 'unexpected',
    'shape_mismatch'}; raises a one-line error naming the file when it cannot be read, is refused by the
    safe loader, or nothing matched.
    """
    path = Path(path)
    sd = _unwrap(read_weights(path))
    if select and any(k.startswith(select) for k in sd):
        sd = {k[len(select) :]: v for k, v in sd.items() if k.startswith(select)}
    sd = _strip(sd)
    own = module.state_dict()
    matched = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    mismatch = [k for k, v in sd.items() if k in own and own[k].shape != v.shape]
    if not matched:
        raise DataError(
            f"{path}: no tensor matches the backbone's parameters "
            f"({len(sd)} tensors read; expected keys like '{next(iter(own))}')."
        )
    module.load_state_dict(matched, strict=False)
    report = {
        "loaded": len(matched),
        "missing": len(own) - len(matched),
        "unexpected": len(sd) - len(matched) - len(mismatch),
        "shape_mismatch": len(mismatch),
    }
    level = logging.WARNING if report["missing"] or report["shape_mismatch"] else logging.INFO
    log.log(
        level,
        "pretrained %s: loaded %d tensors, missing %d, unexpected %d, shape mismatch %d",
        path,
        report["loaded"],
        report["missing"],
        report["unexpected"],
        report["shape_mismatch"],
    )
    if report["missing"]:
        log.warning("missing (first 5): %s", [k for k in own if k not in matched][:5])
    return report
