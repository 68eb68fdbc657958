"""The protocol a run followed, as a short dict stored in every record (``RunRecord.protocol``).

It names the choices that change results without being visible in the architecture: the FPM softmax
variant (MTI-Net), the edge evaluation protocol, the normals loss normalisation, when the poly schedule
steps, the data geometry, the depth metric's clamp. ``mtbench table`` compares a measured row's protocol
with that of the reported rows shown beside it and footnotes every difference.
"""
from __future__ import annotations

from typing import Any

from mtbench.config import RunConfig

# Keys, in display order.
KEYS = ("fpm", "edge_eval", "normals_loss", "poly_step", "geometry", "depth_eval")

DEPTH_EVAL = "pred<=0 -> 1e-9 before metrics"


def schedule_step(cfg: RunConfig) -> str:
    """'epoch' / 'iter' for the poly schedule ('constant' when there is no decay)."""
    return cfg.train.poly_step if cfg.train.schedule == "poly" else "constant"


def edge_eval(protocol: dict[str, Any]) -> str:
    """'release', 'seism+nms', ... from a boundary metric's ``protocol()`` dict."""
    name = str(protocol.get("protocol", "?"))
    return f"{name}+nms" if protocol.get("nms") else name


def run_protocol(cfg: RunConfig, tasks: list[str], aux_tasks: list[str], geometry: str,
                 model: Any = None, metric_protocols: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """The protocol dict of one run: model choices (``model.protocol()``, e.g. MTI-Net's FPM variant),
    the edge evaluation (when edge is evaluated), the normals loss (when normals is trained), the poly
    step, the dataset's geometry and the depth clamp (when depth is evaluated)."""
    out: dict[str, str] = {}
    if model is not None and callable(getattr(model, "protocol", None)):
        out.update({k: str(v) for k, v in model.protocol().items()})
    if "edge" in tasks and metric_protocols and "edge" in metric_protocols:
        out["edge_eval"] = edge_eval(metric_protocols["edge"])
    if "normals" in tasks or "normals" in aux_tasks:
        from mtbench.tasks.normals import NORMALS_LOSS_NORMALISATION

        out["normals_loss"] = NORMALS_LOSS_NORMALISATION
    out["poly_step"] = schedule_step(cfg)
    if geometry:
        out["geometry"] = geometry
    if "depth" in tasks:
        out["depth_eval"] = DEPTH_EVAL
    return {k: out[k] for k in sorted(out, key=lambda k: (KEYS.index(k) if k in KEYS else len(KEYS), k))}


def differences(measured: dict[str, str], reported: dict[str, str]) -> list[str]:
    """'key=value (reported: value)' for every key both protocols name and set differently."""
    return [f"{k}={measured[k]} (reported: {reported[k]})"
            for k in measured if k in reported and measured[k] != reported[k]]
