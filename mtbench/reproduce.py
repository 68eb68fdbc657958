"""``mtbench reproduce TABLE``: run every row of one of the paper's tables with the release's protocol
(skipping rows already recorded, as ``sweep`` does) and compare measured with reported, row by row.

Measured = mean ± sample std over the seeds whose record exists; "within spread" says whether the reported
value lies inside the measured range [min, max] over seeds (n/a with fewer than two seeds). Measured Δm is
computed per seed against the mean of the measured single-task row, as the leaderboard does.
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


def _summary(values: list[float]) -> tuple[float | None, float | None, float | None, float | None]:
    if not values:
        return None, None, None, None
    std = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), std, min(values), max(values)


def comparison(table: PaperTable, rows: list[RowResult]) -> list[dict[str, object]]:
    """One line per (paper row, quantity): reported, measured mean/std/n, difference, within the spread."""
    from mtbench.registry import get_task

    higher = {t: get_task(t).primary_spec.higher_is_better for t in table.tasks}
    single = next((r for r in rows if r.row.model == SINGLE_TASK), None)
    base = {
        t: statistics.fmean(single.values(t).values()) for t in table.tasks if single is not None and single.values(t)
    }
    lines: list[dict[str, object]] = []
    for res in rows:
        per_task = {t: res.values(t) for t in table.tasks}
        quantities: list[tuple[str, float | None, list[float]]] = [
            (f"{t} {get_task(t).primary}", res.row.reported.get(t), list(per_task[t].values())) for t in table.tasks
        ]
        if res.row.model == SINGLE_TASK:
            dms = [0.0] * min(len(v) for v in per_task.values()) if all(per_task.values()) else []
        elif len(base) == len(table.tasks) and all(base.values()):  # Δm is undefined against a zero baseline
            seeds = sorted(set.intersection(*(set(v) for v in per_task.values())))
            dms = [delta_m({t: per_task[t][s] for t in table.tasks}, base, higher) for s in seeds]
        else:
            dms = []
        quantities.append((DM, res.row.delta_m, dms))
        for name, rep, vals in quantities:
            mean, std, lo, hi = _summary(vals)
            # lo and hi are None only without values
            within = (
                None
                if len(vals) < 2 or rep is None or lo is None or hi is None
                else bool(lo - 1e-12 <= rep <= hi + 1e-12)
            )
            lines.append(
                {
                    "row": res.row.label,
                    "quantity": name,
                    "reported": rep,
                    "measured": mean,
                    "std": std,
                    "seeds": len(vals),
                    "difference": None if mean is None or rep is None else mean - rep,
                    "within_spread": within,
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
        if ln["std"] is not None:
            measured += f" ± {_fmt(ln['std'], digits)}"
        within = {None: "n/a", True: "yes", False: "no"}[ln["within_spread"]]  # type: ignore[index]
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
                "Measured (mean ± std)": measured,
                "Seeds": ln["seeds"],
                "Measured − reported": diff,
                "Reported within seed range": within,
            }
        )
    text = pd.DataFrame(shown).to_markdown(index=False)
    head = (
        f"{table.where} of {table.dataset} ({table.backbone}), measured with recipe '{table.config}' "
        f"beside the paper's reported numbers"
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
