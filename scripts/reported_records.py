"""Write the published MTI-Net numbers (DESIGN.md "Published numbers", rows in mtbench.paper_tables) as
``source: reported`` records, each with the release's protocol (what ``mtbench table`` compares with).

Run: ``python scripts/reported_records.py [--out results/reported]``. The records are committed; this
script documents exactly where each number comes from. Reported rows are shown beside measured rows and
never serve as Δm baselines of measured rows (they are their own baselines: the paper's single-task row).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mtbench.paper_tables import CITATION, NYUD_TABLE_2A, PaperRow, PaperTable
from mtbench.registry import get_task
from mtbench.reporting.delta_m import SINGLE_TASK
from mtbench.reporting.results import Cost, DeltaM, RunRecord, save_record

ST_PARAMS, ST_GFLOPS = 8.0e6, 22.0  # Table 7: single-task (2 tasks), HRNet-18


def release_protocol(table: PaperTable, row: PaperRow, backbone: str) -> dict[str, str]:
    """The protocol of the release's run of ``row`` (mtbench's recipe for the table, as a record stores it)."""
    from mtbench.config import build_config
    from mtbench.engine.run import build_model, resolve_experiment
    from mtbench.protocol import run_protocol

    cfg = build_config(
        table.config, [*row.sets(), f"model.backbone={backbone}", "model.pretrained=false"], **{"model.name": row.model}
    )
    if row.model == SINGLE_TASK:  # one network per task: the protocol of the first is that of each
        cfg = build_config(
            table.config,
            [*row.sets(), "model.pretrained=false", f"data.tasks=[{table.tasks[0]}]"],
            **{"model.name": row.model},
        )
    exp = resolve_experiment(cfg)
    return run_protocol(cfg, list(table.tasks), exp.aux_tasks, exp.spec.geometry, build_model(cfg, exp))


def _record(
    table: PaperTable,
    row: PaperRow,
    backbone: str,
    where: str,
    cost: Cost,
    note: str = "",
    reported: dict[str, float] | None = None,
    dm: float | None = None,
) -> RunRecord:
    reported = reported or row.reported
    notes = [f"numbers from {where}"] + ([note] if note else [])
    return RunRecord(
        id=f"reported-{table.dataset}-{backbone}-{row.key}",
        created="2020-08-01T00:00:00+00:00",
        model=row.model,
        backbone=backbone,
        dataset=table.dataset,
        split="val",
        tasks=list(table.tasks),
        aux_tasks=list(row.aux_tasks),
        config={"model": {"name": row.model, "backbone": backbone, "kwargs": dict(row.kwargs)}},
        metrics={t: {get_task(t).primary: v} for t, v in reported.items()},
        primary=dict(reported),
        delta_m=DeltaM(value=dm, note=f"published in {where}") if dm is not None and row.model != SINGLE_TASK else None,
        cost=cost,
        source="reported",
        citation=f"{CITATION}, {where}",
        protocol=release_protocol(table, row, backbone),
        notes=notes,
    )


def reported_records() -> list[RunRecord]:
    table = NYUD_TABLE_2A
    out = []
    for row in table.rows:
        cost, note = Cost(input_size=table.input_size), ""
        if row.rel_params is not None:
            cost = Cost(
                input_size=table.input_size,
                params=round(ST_PARAMS * (1 + row.rel_params)),
                gmacs=round(ST_GFLOPS * (1 + row.rel_flops), 2),
            )
            note = (
                "params and GFLOPs derived from Table 7 (single-task 8.0M params, 22.0 GFLOPs; relative "
                f"{row.rel_params:+.0%} params, {row.rel_flops:+.0%} FLOPs); the paper says FLOPs, counted like "
                "fvcore's MACs"
            )
        out.append(_record(table, row, table.backbone, table.where, cost, note, dm=row.delta_m))
    mtinet = next(r for r in table.rows if r.key == "mtinet")
    out.append(
        _record(
            table,
            mtinet,
            "hrnet48",
            "Table 6",
            Cost(input_size=table.input_size),
            reported={"semseg": 49.0, "depth": 0.529},
        )
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="results/reported")
    args = ap.parse_args()
    for r in reported_records():
        print(save_record(r, Path(args.out)))


if __name__ == "__main__":
    main()
