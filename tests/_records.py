"""Hand-made result records for the reporting tests (semseg mIoU and depth RMSE as the primary metrics)."""

from __future__ import annotations

from typing import Any

from mtbench.reporting.results import RunRecord


def metric_record(
    id: str, model: str, seed: int | None, sem: float | None = None, dep: float | None = None, **kw: Any
) -> RunRecord:
    """A complete measured record of ``model`` with the given semseg mIoU and/or depth RMSE (its tasks)."""
    metrics: dict[str, dict[str, float | None]] = {}
    if sem is not None:
        metrics["semseg"] = {"mIoU": sem}
    if dep is not None:
        metrics["depth"] = {"rmse": dep}
    kw.setdefault("backbone", "hrnet18")
    kw.setdefault("dataset", "nyud")
    kw.setdefault("cost", {"input_size": [480, 640]})
    return RunRecord(id=id, model=model, tasks=list(metrics), seed=seed, metrics=metrics, **kw)
