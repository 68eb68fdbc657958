"""Hand-made result records for the reporting tests (semseg mIoU and depth RMSE as the primary metrics)."""

from __future__ import annotations

from pathlib import Path
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


SITE_CONFIG = {"train": {"lr": 0.001, "epochs": 2}, "data": {"n_train": 64}}
SITE_COST = {"input_size": [480, 640], "params": 3_000_000, "gmacs": 12.5, "device": "cpu"}


def site_record(
    id: str, model: str, seed: int | None, sem: float | None = None, dep: float | None = None, **kw: Any
) -> RunRecord:
    """A :func:`metric_record` with the config, cost and timings that a site's run page shows."""
    kw.setdefault("config", SITE_CONFIG)
    kw.setdefault("cost", SITE_COST)
    kw.setdefault("timings", {"train": 12.0, "total": 15.5})
    return metric_record(id, model, seed, sem, dep, **kw)


def site_results(root: Path) -> Path:
    """Records for the site tests, saved under ``root`` (returned). nyud: single-task baselines, mtl (with a
    learning curve on seed 0) and padnet; synthetic: baselines and mtl; two seeds each. Plus a floor record and a
    local/ run, neither of which is on the site."""
    from mtbench.reporting.results import Curve, CurvePoint, save_record

    for ds in ("nyud", "synthetic"):
        for s, (a, b) in enumerate([(30.0, 0.70), (31.0, 0.69)]):
            save_record(site_record(f"{ds}-st-s{s}", "single_task", s, sem=a, dataset=ds), root)
            save_record(site_record(f"{ds}-st-d{s}", "single_task", s, dep=b, dataset=ds), root)
            curve = None
            if ds == "nyud" and s == 0:
                pts = [
                    CurvePoint(iteration=i, images=8 * i, primary={"semseg": 10.0 + i, "depth": 1.0 - i / 100})
                    for i in (0, 10, 20)
                ]
                curve = Curve(split="val", eval_images=4, every_iters=10, points=pts)
            gain = 1.05  # Δm exactly +5 every seed: its interval lies above 0 (▲)
            save_record(
                site_record(
                    f"{ds}-mtl-{s}",
                    "mtl",
                    s,
                    a * gain,
                    b / gain,
                    dataset=ds,
                    curve=curve,
                    cost={**SITE_COST, "gmacs": 9.0},
                ),
                root,
            )
        if ds == "nyud":
            for s, f in enumerate([0.97, 1.01]):
                save_record(site_record(f"nyud-padnet-{s}", "padnet", s, 30.0 * f, 0.7 / f), root)
    save_record(site_record("nyud-floor-0", "constant", 0, 4.0, 1.5), root)
    save_record(site_record("nyud-local-0", "mtl", 7, 50.0, 0.5), root / "local")
    return root
