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


def schedule_step(cfg: RunConfig) -> str:
    """'epoch' / 'iter' for the poly schedule ('constant' when there is no decay)."""
    return cfg.train.poly_step if cfg.train.schedule == "poly" else "constant"


def run_protocol(
    cfg: RunConfig,
    tasks: list[str],
    aux_tasks: list[str],
    geometry: str,
    model: Any = None,
    metric_protocols: dict[str, dict[str, Any]] | None = None,
) -> dict[str, str]:
    """The protocol dict of one run: model choices (``model.protocol()``, e.g. MTI-Net's FPM variant),
    each trained task's choices (``Task.protocol``: e.g. the edge evaluation when edge is evaluated, the
    normals loss, the depth clamp), the poly step and the dataset's geometry."""
    from mtbench.registry import get_task

    out: dict[str, str] = {}
    if model is not None and callable(getattr(model, "protocol", None)):
        out.update({k: str(v) for k, v in model.protocol().items()})
    for t in dict.fromkeys([*tasks, *aux_tasks]):
        out.update(get_task(t).protocol(evaluated=t in tasks, metric_protocol=(metric_protocols or {}).get(t)))
    out["poly_step"] = schedule_step(cfg)
    if geometry:
        out["geometry"] = geometry
    return {k: out[k] for k in sorted(out, key=lambda k: (KEYS.index(k) if k in KEYS else len(KEYS), k))}


def differences(measured: dict[str, str], reported: dict[str, str]) -> list[str]:
    """'key=value (reported: value)' for every key both protocols name and set differently."""
    return [
        f"{k}={measured[k]} (reported: {reported[k]})" for k in measured if k in reported and measured[k] != reported[k]
    ]
