"""``mtbench reproduce TABLE``: run every row of one of the paper's tables with the release's protocol
(skipping rows already recorded, as ``sweep`` does) and compare measured with reported, row by row.

Measured = mean ± the half-width of its 95 % Student-t interval over the seeds whose record exists (the
leaderboard's definition, ``mtbench.reporting.stats``); "within 95 % CI" says whether the reported value lies
inside that interval (n/a with fewer than two seeds: one run's image bootstrap would leave out the seed-to-seed
spread). Measured Δm is paired, as the leaderboard's: per seed against the single-task records of the same seed,
or, where a seed lacks one of them, against the single-task row's mean (``paired`` false then).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mtbench.config import build_config
from mtbench.errors import UsageError
from mtbench.paper_tables import PaperRow, PaperTable, get_table
from mtbench.protocol import differences
from mtbench.reporting.delta_m import SINGLE_TASK, delta_m
from mtbench.reporting.results import RunRecord, load_records
from mtbench.sweep import Entry, Preset, record_keys, run_sweep

DM = "Δm (%)"


def table_preset(table: PaperTable, seeds: list[int]) -> Preset:
    """The table's rows as a sweep preset on the table's recipe."""
    return Preset(
        description=f"{table.name}: {table.description}",
        config=table.config,
        seeds=tuple(seeds),
        entries=tuple(Entry(r.model, r.sets(), r.key) for r in table.rows),
        name=table.name,
    )


@dataclass
class RowResult:
    """One paper row's measured records (per task, per seed) and the protocol differences found."""

    row: PaperRow
    records: dict[str, dict[int, RunRecord]] = field(default_factory=dict)  # task -> seed -> record
    protocol_notes: list[str] = field(default_factory=list)

    def values(self, task: str) -> dict[int, float]:
        from mtbench.reporting.delta_m import primary_metric

        out = {}
        for seed, r in self.records.get(task, {}).items():
            v = primary_metric(r, task)
            if v is not None:
                out[seed] = v
        return out


def collect(table: PaperTable, seeds: list[int], results: Path, extra_sets: list[str]) -> list[RowResult]:
    """The records of every row and seed (matched by model, seed and config hash, as ``sweep`` skips)."""
    preset = table_preset(table, seeds)
    records = load_records(results) if results.exists() else []
    index = {r.key.run: r for r in records if r.status == "complete" and r.source == "measured"}
    reported = {r.id: r for r in records if r.source == "reported"}
    out = []
    for row, entry in zip(table.rows, preset.entries):
        res = RowResult(row)
        for seed in seeds:
            for key in record_keys(preset, entry, seed, results, extra_sets):
                rec = index.get(key)
                if rec is not None:
                    for t in rec.tasks:
                        res.records.setdefault(t, {})[seed] = rec
        ref = reported.get(f"reported-{table.dataset}-{table.backbone}-{row.key}")
        if ref is not None and ref.protocol:
            seen = {rec.id: rec for d in res.records.values() for rec in d.values()}
            for rec in seen.values():
                for diff in differences(rec.protocol, ref.protocol):
                    if diff not in res.protocol_notes:
                        res.protocol_notes.append(diff)
        out.append(res)
    return out


def comparison(table: PaperTable, rows: list[RowResult]) -> list[dict[str, object]]:
    """One line per (paper row, quantity): reported, measured mean with its 95 % t interval (and std), n,
    difference, whether the reported value lies in the interval; Δm lines say whether they are paired."""
    from mtbench.registry import get_task
    from mtbench.reporting.stats import t_interval

    higher = {t: get_task(t).primary_spec.higher_is_better for t in table.tasks}
    single = next((r for r in rows if r.row.model == SINGLE_TASK), None)
    single_values = {t: single.values(t) for t in table.tasks} if single is not None else {}
    base = {t: statistics.fmean(v.values()) for t, v in single_values.items() if v}
    lines: list[dict[str, object]] = []
    for res in rows:
        per_task = {t: res.values(t) for t in table.tasks}
        quantities: list[tuple[str, float | None, list[float]]] = [
            (f"{t} {get_task(t).primary}", res.row.reported.get(t), list(per_task[t].values())) for t in table.tasks
        ]
        paired: bool | None = None
        if res.row.model == SINGLE_TASK:
            dms = [0.0] * min(len(v) for v in per_task.values()) if all(per_task.values()) else []
        elif len(base) == len(table.tasks) and all(base.values()):  # Δm is undefined against a zero baseline
            seeds = sorted(set.intersection(*(set(v) for v in per_task.values())))
            # paired: the same seed's single-task values where every task has one, else the row's mean
            same_seed = [s for s in seeds if all(s in single_values[t] for t in table.tasks)]
            paired = bool(seeds) and len(same_seed) == len(seeds)
            dms = [
                delta_m(
                    {t: per_task[t][s] for t in table.tasks},
                    {t: single_values[t][s] for t in table.tasks} if paired else base,
                    higher,
                )
                for s in seeds
            ]
        else:
            dms = []
        quantities.append((DM, res.row.delta_m, dms))
        for name, rep, vals in quantities:
            ci = t_interval(vals) if vals else None
            mean = None if ci is None else ci.mean
            within = None if ci is None or ci.low is None or ci.high is None or rep is None else ci.sign(rep) == 0
            lines.append(
                {
                    "row": res.row.label,
                    "quantity": name,
                    "reported": rep,
                    "measured": mean,
                    "ci95_low": None if ci is None else ci.low,
                    "ci95_high": None if ci is None else ci.high,
                    "std": None if ci is None else ci.std,
                    "seeds": len(vals),
                    "difference": None if mean is None or rep is None else mean - rep,
                    "within_ci": within,
                    "paired": paired if name == DM else None,
                    "protocol": "; ".join(res.protocol_notes),
                }
            )
    return lines


def _fmt(v: object, digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.{digits}f}"


def render(table: PaperTable, lines: list[dict[str, object]], fmt: str = "github") -> str:
    """Markdown (github), CSV or JSON of :func:`comparison`; footnotes name protocol differences."""
    import json

    import pandas as pd

    if fmt == "json":
        return json.dumps({"table": table.name, "where": table.where, "rows": lines}, indent=2)
    df = pd.DataFrame(lines)
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt != "github":
        raise UsageError(f"--format {fmt}: choose github, csv or json")
    notes: list[str] = []
    shown = []
    for ln in lines:
        digits = 3 if "depth" in str(ln["quantity"]) else 2
        measured = _fmt(ln["measured"], digits)
        if ln["ci95_low"] is not None and ln["ci95_high"] is not None:
            measured += f" ± {_fmt((float(ln['ci95_high']) - float(ln['ci95_low'])) / 2, digits)}"  # type: ignore[arg-type]
        if ln["paired"] is False:
            measured += " (unpaired)"
        within = {None: "n/a", True: "yes", False: "no"}[ln["within_ci"]]  # type: ignore[index]
        label = str(ln["row"])
        if ln["protocol"]:
            if ln["protocol"] not in notes:
                notes.append(str(ln["protocol"]))
            label += f" [{notes.index(str(ln['protocol'])) + 1}]"
        diff = "—" if ln["difference"] is None else f"{ln['difference']:+.{digits}f}"
        shown.append(
            {
                "Row": label,
                "Quantity": ln["quantity"],
                "Reported": _fmt(ln["reported"], digits),
                "Measured (mean ± 95 % CI)": measured,
                "Seeds": ln["seeds"],
                "Measured − reported": diff,
                "Reported within 95 % CI": within,
            }
        )
    text = pd.DataFrame(shown).to_markdown(index=False)
    head = (
        f"{table.where} of {table.dataset} ({table.backbone}), measured with recipe '{table.config}' "
        f"beside the paper's reported numbers; measured: mean ± the half-width of its 95 % Student-t interval "
        f"over seeds, Δm paired per seed with the single-task row (unpaired: against its mean)"
    )
    foot = [f"[{i}] protocol differs from the reported row: {n}" for i, n in enumerate(notes, 1)]
    return "\n".join([head, "", text, *([""] + foot if foot else [])])


def reproduce(
    name: str,
    *,
    seeds: list[int],
    results: Path | str = "results",
    data_root: str | None = None,
    device: str | None = None,
    extra_sets: list[str] | None = None,
    jobs: int = 1,
    dry_run: bool = False,
    on_done: Callable[[str], None] | None = None,
) -> tuple[PaperTable, list[list[str]], list[dict[str, object]]]:
    """Run the table's missing rows (unless ``dry_run``) and compare; returns (table, runs done or to do,
    comparison lines)."""
    from mtbench.data.common import env_root
    from mtbench.data.spec import get_dataset_spec

    table = get_table(name)
    if not seeds:
        raise UsageError("--seeds: give at least one seed, e.g. 0,1,2")
    results = Path(results)
    sets = list(extra_sets or [])
    if data_root is not None:
        sets.append(f"data.root={data_root}")
    if device is not None:
        sets.append(f"run.device={device}")
    if not get_dataset_spec(table.dataset).embedded:
        root = build_config(table.config, sets).data.root or env_root(table.dataset)
        if root is None:
            raise UsageError(f"{name}: dataset '{table.dataset}' needs --data-root (or $MTBENCH_DATA/{table.dataset})")
        if not Path(root).is_dir():
            raise UsageError(f"--data-root {root}: no such folder")
    todo = run_sweep(
        table_preset(table, seeds),
        seeds=seeds,
        results=results,
        jobs=jobs,
        extra_sets=sets,
        dry_run=dry_run,
        on_done=on_done,
    )
    return table, todo, comparison(table, collect(table, seeds, results, sets))
