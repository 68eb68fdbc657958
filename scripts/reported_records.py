"""Write the published MTI-Net numbers (DESIGN.md "Published numbers") as ``source: reported`` records.

Run: ``python scripts/reported_records.py [--out results/reported]``. The records are committed; this
script documents exactly where each number comes from. Reported rows are shown beside measured rows and
never serve as Δm baselines of measured rows (they are their own baselines: the paper's single-task row).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mtbench.results import Cost, DeltaM, RunRecord, save_record

CITE = ("S. Vandenhende, S. Georgoulis, L. Van Gool. MTI-Net: Multi-Scale Task Interaction Networks for "
        "Multi-Task Learning. ECCV 2020")
NYUD_HW = (480, 640)
ST_PARAMS, ST_GFLOPS = 8.0e6, 22.0  # Table 7: single-task (2 tasks), HRNet-18

# (id suffix, model, model kwargs, aux tasks, mIoU, rmse, Δm, Table 7 relative params, relative FLOPs)
TABLE_2A = [
    ("single-task", "single_task", {}, [], 33.18, 0.667, 0.0, 0.0, 0.0),
    ("mtl", "mtl", {}, [], 32.09, 0.668, -1.71, -0.50, -0.45),
    ("padnet", "padnet", {}, [], 32.80, 0.660, -0.02, -0.15, +2.04),
    ("mtinet-nofpm", "mtinet", {"fpm": False}, [], 34.38, 0.640, 3.85, None, None),
    ("mtinet", "mtinet", {}, [], 35.12, 0.620, 6.40, +0.57, -0.13),
    ("mtinet-aux-edge", "mtinet", {}, ["edge"], 36.22, 0.600, 9.57, None, None),
    ("mtinet-aux-edge-normals", "mtinet", {}, ["edge", "normals"], 37.49, 0.607, 10.91, None, None),
]


def _record(rid: str, model: str, kwargs: dict, aux: list[str], miou: float, rmse: float, dm: float | None,
            backbone: str, where: str, cost: Cost, note: str = "") -> RunRecord:
    notes = [f"numbers from {where}"] + ([note] if note else [])
    return RunRecord(
        id=f"reported-nyud-{backbone}-{rid}", created="2020-08-01T00:00:00+00:00", model=model, backbone=backbone,
        dataset="nyud", split="val", tasks=["semseg", "depth"], aux_tasks=aux,
        config={"model": {"name": model, "backbone": backbone, "kwargs": kwargs}},
        metrics={"semseg": {"mIoU": miou}, "depth": {"rmse": rmse}}, primary={"semseg": miou, "depth": rmse},
        delta_m=DeltaM(value=dm, note=f"published in {where}") if dm is not None and model != "single_task" else None,
        cost=cost, source="reported", citation=f"{CITE}, {where}", notes=notes)


def reported_records() -> list[RunRecord]:
    out = []
    for rid, model, kwargs, aux, miou, rmse, dm, rel_p, rel_f in TABLE_2A:
        cost, note = Cost(input_size=NYUD_HW), ""
        if rel_p is not None:
            cost = Cost(input_size=NYUD_HW, params=round(ST_PARAMS * (1 + rel_p)), gmacs=round(ST_GFLOPS * (1 + rel_f), 2))
            note = ("params and GFLOPs derived from Table 7 (single-task 8.0M params, 22.0 GFLOPs; relative "
                    f"{rel_p:+.0%} params, {rel_f:+.0%} FLOPs); the paper says FLOPs, counted like fvcore's MACs")
        out.append(_record(rid, model, kwargs, aux, miou, rmse, dm, "hrnet18", "Table 2a", cost, note))
    out.append(_record("mtinet", "mtinet", {}, [], 49.0, 0.529, None, "hrnet48", "Table 6", Cost(input_size=NYUD_HW)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="results/reported")
    args = ap.parse_args()
    for r in reported_records():
        print(save_record(r, Path(args.out)))


if __name__ == "__main__":
    main()
