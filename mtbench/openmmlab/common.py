"""What the OpenMMLab backbones and heads share: the extra's import check, ``mmseg:SPEC`` parsing, mmseg
config files (read, sanitised) and mmseg's weight initialisation.

SPEC is a registered mmseg type or an mmseg config file, optionally followed by comma-separated ``key=value``
overrides (values are Python literals, else strings). Config paths are looked up as given, then inside the
installed mmsegmentation package's bundled configs (``mmseg/.mim``). An mmseg config file is Python code that
mmengine executes: only use config files you trust.
"""

from __future__ import annotations

import ast
import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch.nn as nn

from mtbench.errors import DataError, UsageError

log = logging.getLogger(__name__)
PREFIX = "mmseg:"
INSTALL_HINT = (
    "needs the OpenMMLab extra (mmcv 2.1.0 with ops, mmengine, mmsegmentation): run "
    "'make openmmlab' (scripts/build_mmcv.sh, then pip install -e '.[openmmlab]')"
)


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
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
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
    body = spec[len(PREFIX) :] if spec.startswith(PREFIX) else spec
    parts = _split_top(body)
    if not parts or "=" in parts[0]:
        raise UsageError(
            f"{option} {spec}: expected mmseg:TYPE_OR_CONFIG[,key=value...], e.g. mmseg:MixVisionTransformer"
        )
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


def quiet_init_weights(module: nn.Module) -> None:
    """mmseg's own initialisation (``init_weights``), without mmengine's per-parameter INFO log."""
    if not hasattr(module, "init_weights"):
        return
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        cast(Callable[[], None], module.init_weights)()  # mmengine's BaseModule method (checked above)
    finally:
        logger.setLevel(level)
