"""Leaderboard: records -> pandas DataFrame (one row per configuration, seeds aggregated) -> table text.

Rows group records by (dataset, split, source, model, backbone, tasks, aux tasks, input size, model
options, citation); single_task records of one configuration form one row covering all their tasks
(cost columns summed over the per-task networks, peak memory the maximum). Metric columns hold each
task's primary metric (mean, and sample std over seeds), Δm comes from :mod:`mtbench.reporting.delta_m`.
Rows sort by Δm descending (n/a last). Formats: github markdown, LaTeX (booktabs), CSV, HTML, JSON;
github/LaTeX/HTML bold the best value per column among measured rows (among reported rows when there
are no measured rows) and list footnotes (citations, Δm notes, unsupported ops, memory kind).
"""

from __future__ import annotations

import html
import json
import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pandas as pd

from mtbench.errors import MtbenchError, UsageError
from mtbench.reporting.delta_m import SINGLE_TASK, group_delta_m, primary_metric
from mtbench.reporting.results import RunRecord, atomic_write_text, load_records

log = logging.getLogger(__name__)

FORMATS = ("github", "latex", "csv", "html", "json")
DM_COL = "Δm (%) ↑"
# Cost columns: (column, digits); lower is better for all of them.
COST_COLS = (("Params (M)", 2), ("GMACs", 2), ("Peak mem (MiB)", 0), ("Latency (ms)", 2))
# Boolean model options that name an ablation; shown as "no <label>" when False, even if not varying.
ABLATION_FLAGS = {"fpm": "FPM"}


@dataclass(frozen=True)
class Column:
    """A numeric table column: its direction (None: no best value) and display digits."""

    name: str
    higher_is_better: bool | None
    digits: int


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def _metric_column(task_name: str) -> Column:
    from mtbench.registry import get_task

    spec = get_task(task_name).primary_spec
    unit = f" ({spec.unit})" if spec.unit else ""
    digits = 2 if spec.unit in ("%", "deg") else 3 if spec.unit == "m" else 4
    return Column(f"{task_name} {spec.name}{unit} {spec.arrow}", spec.higher_is_better, digits)


def _group_key(r: RunRecord) -> tuple:
    tasks = () if r.model == SINGLE_TASK else tuple(r.tasks)
    return (
        r.dataset,
        r.split,
        r.source,
        r.model,
        r.backbone,
        tasks,
        tuple(r.aux_tasks),
        r.cost.input_size,
        json.dumps(r.model_kwargs, sort_keys=True, default=str),
        r.citation if r.source == "reported" else None,
    )


def protocol_notes(group: Sequence[RunRecord], shown: Sequence[RunRecord]) -> list[str]:
    """For a measured group: where its protocol differs from that of the reported rows shown beside it
    (the reported row of the same configuration when there is one, else every reported row of the dataset;
    only keys both name are compared)."""
    from mtbench.protocol import differences

    first = group[0]
    if first.source != "measured":
        return []
    reported = [r for r in shown if r.source == "reported" and r.dataset == first.dataset and r.protocol]
    same = [
        r
        for r in reported
        if r.model == first.model and r.aux_tasks == first.aux_tasks and r.model_kwargs == first.model_kwargs
    ]
    diffs: list[str] = []
    for mine in group:
        for ref in same or reported:
            diffs += [d for d in differences(mine.protocol, ref.protocol) if d not in diffs]
    return [f"protocol differs from the reported rows: {'; '.join(diffs)}"] if diffs else []


def _task_order(records: Sequence[RunRecord]) -> list[str]:
    """Tasks in their dataset's canonical order (DatasetSpec.tasks), unknown ones after, first seen first."""
    from mtbench.data.spec import DATASETS

    seen = list(dict.fromkeys(t for r in records for t in r.tasks))
    canon = list(
        dict.fromkeys(t for d in dict.fromkeys(r.dataset for r in records) if d in DATASETS for t in DATASETS[d].tasks)
    )
    return sorted(seen, key=lambda t: (canon.index(t) if t in canon else len(canon), seen.index(t)))


def _label(model: str, kwargs: dict, varying: set[str]) -> str:
    parts = []
    for k in sorted(kwargs):
        v = kwargs[k]
        if k in ABLATION_FLAGS and v is False:
            parts.append(f"no {ABLATION_FLAGS[k]}")
        elif k in varying:
            parts.append(f"{'no ' + k if v is False else k if v is True else f'{k}={v}'}")
    return f"{model} ({', '.join(parts)})" if parts else model


def _cost(group: list[RunRecord]) -> dict[str, float | None]:
    """Mean over seeds; for single_task rows summed over the per-task networks (memory: maximum)."""
    by_tasks: dict[tuple, list[RunRecord]] = {}
    for r in group:
        by_tasks.setdefault(tuple(r.tasks), []).append(r)
    parts = []
    for recs in by_tasks.values():
        parts.append(
            {
                "Params (M)": _mean_std([r.cost.params / 1e6 if r.cost.params is not None else None for r in recs])[0],
                "GMACs": _mean_std([r.cost.gmacs for r in recs])[0],
                "Peak mem (MiB)": _mean_std([r.cost.peak_mem_mb for r in recs])[0],
                "Latency (ms)": _mean_std([r.cost.latency_ms for r in recs])[0],
            }
        )
    out: dict[str, float | None] = {}
    for col, _ in COST_COLS:
        vals = [p[col] for p in parts]
        known = [v for v in vals if v is not None]
        if len(known) < len(vals):
            out[col] = None
        else:
            out[col] = max(known) if col == "Peak mem (MiB)" else sum(known)
    return out


def build_frame(
    records: Sequence[RunRecord],
    *,
    dataset: str | None = None,
    backbone: str | None = None,
    baseline_pool: Sequence[RunRecord] | None = None,
) -> pd.DataFrame:
    """One row per configuration (seeds aggregated). Numeric columns hold means, ``<col> std`` the std;
    ``df.attrs['columns']`` lists the numeric :class:`Column` specs, ``df.attrs['notes']`` per-row notes.
    Constant-predictor floor records (``RunRecord.is_floor``) are neither rows nor baselines."""
    records = [r for r in records if not r.is_floor]
    pool = [r for r in (baseline_pool if baseline_pool is not None else records) if not r.is_floor]
    chosen = [
        r
        for r in records
        if r.status == "complete"
        and (dataset is None or r.dataset == dataset)
        and (backbone is None or r.backbone == backbone)
    ]
    skipped = [r.where for r in records if r.status != "complete"]
    if skipped:
        log.info("leaderboard skips %d incomplete runs: %s", len(skipped), ", ".join(skipped))
    if not chosen:
        present = sorted({f"{r.dataset}/{r.backbone}" for r in records})
        raise MtbenchError(
            f"no complete records match dataset={dataset or 'any'} backbone={backbone or 'any'}"
            f" (present: {', '.join(present) or 'none'})"
        )
    groups: dict[tuple, list[RunRecord]] = {}
    for r in chosen:
        groups.setdefault(_group_key(r), []).append(r)
    kw_values: dict[str, dict[str, set[str]]] = {}
    for r in chosen:
        for k, v in r.model_kwargs.items():
            kw_values.setdefault(r.model, {}).setdefault(k, set()).add(json.dumps(v, default=str))
    task_order = _task_order(chosen)
    metric_cols = {t: _metric_column(t) for t in task_order}

    varying = {
        m: {k for k, vs in d.items() if len(vs) > 1 or any(k not in g.model_kwargs for g in chosen if g.model == m)}
        for m, d in kw_values.items()
    }
    rows, notes = [], []
    for group in groups.values():
        first = group[0]
        row: dict[str, object] = {
            "Dataset": first.dataset,
            "Split": first.split,
            "Model": _label(first.model, first.model_kwargs, varying.get(first.model, set())),
            "Backbone": first.backbone,
            "Tasks": ", ".join(sorted({t for r in group for t in r.tasks}, key=task_order.index)),
            "Aux tasks": ", ".join(first.aux_tasks) or "—",
            "Input": "×".join(map(str, first.cost.input_size)) if first.cost.input_size else "—",
        }
        for t, col in metric_cols.items():
            mean, std = _mean_std([primary_metric(r, t) for r in group if t in r.tasks])
            row[col.name], row[f"{col.name} std"] = mean, std
        dm = group_delta_m(group, pool)
        row[DM_COL], row[f"{DM_COL} std"], row["Δm note"] = dm.value, dm.std, dm.reason
        row.update(_cost(group))
        row["Device"] = ", ".join(sorted({r.cost.device for r in group if r.cost.device})) or "—"
        seeds = {r.seed for r in group if r.seed is not None}
        row["Seeds"] = len(seeds) if seeds else len(group)
        row["Source"] = first.source
        row["Citation"] = first.citation or ""
        row["Record ids"] = " ".join(sorted(r.id for r in group))
        row["Δm baselines"] = " ".join(f"{t}:{','.join(ids)}" for t, ids in dm.baselines.items())
        row_notes = {"Δm": list(dm.notes), "GMACs": [], "Peak mem (MiB)": [], "Source": protocol_notes(group, chosen)}
        unsupported: dict[str, int] = {}
        for r in group:
            for op, n in r.cost.unsupported_ops.items():
                unsupported[op] = max(unsupported.get(op, 0), n)
        if unsupported:
            row_notes["GMACs"].append(
                "GMACs exclude ops fvcore does not count: "
                + ", ".join(f"{op} ×{n}" for op, n in sorted(unsupported.items()))
            )
        kinds = sorted({r.cost.mem_kind for r in group if r.cost.mem_kind})
        if any(k != "cuda_max_allocated_train" for k in kinds):
            row_notes["Peak mem (MiB)"].append(f"peak memory kind: {', '.join(kinds)}")
        if first.source == "reported":
            row_notes["Source"].append(f"reported: {first.citation}")
        row["Notes"] = "; ".join(t for texts in row_notes.values() for t in texts)
        rows.append(row)
        notes.append(row_notes)
    df = pd.DataFrame(rows)
    numeric = [c.name for c in metric_cols.values()] + [DM_COL] + [c for c, _ in COST_COLS]
    for c in numeric + [f"{c} std" for c in numeric if f"{c} std" in df]:
        df[c] = pd.to_numeric(df[c]).astype(float)
    df["_dm_sort"] = df[DM_COL].fillna(-math.inf)
    order = df.sort_values(
        ["Dataset", "Split", "_dm_sort", "Model"], ascending=[True, True, False, True], kind="stable"
    ).index
    df = df.loc[order].drop(columns="_dm_sort").reset_index(drop=True)
    df.attrs["notes"] = [notes[i] for i in order]
    df.attrs["columns"] = [*metric_cols.values(), Column(DM_COL, True, 2), *(Column(c, False, d) for c, d in COST_COLS)]
    return df


def _visible_columns(df: pd.DataFrame) -> list[str]:
    """Context columns appear only when they vary (or, for aux tasks, when any row has them)."""
    cols = [c for c in ("Dataset", "Split") if df[c].nunique() > 1]
    cols += ["Model", "Backbone"]
    if df.loc[df["Model"].ne(SINGLE_TASK), "Tasks"].nunique() > 1:
        cols.append("Tasks")
    if (df["Aux tasks"] != "—").any():
        cols.append("Aux tasks")
    if df["Input"].nunique() > 1:
        cols.append("Input")
    cols += [c.name for c in df.attrs["columns"]]
    cols += ["Device", "Seeds", "Source"]
    return cols


def _best(df: pd.DataFrame, col: Column) -> set[int]:
    """Row indices holding the best value of ``col`` within each dataset/split, among measured rows
    (among reported rows where a dataset has no measured row). Needs at least two candidates."""
    best: set[int] = set()
    for _, sub in df.groupby(["Dataset", "Split"]):
        cand = sub[sub["Source"] == "measured"] if (sub["Source"] == "measured").any() else sub
        vals = cand[col.name].dropna()
        if len(vals) < 2:
            continue
        target = vals.max() if col.higher_is_better else vals.min()
        best |= set(vals.index[vals.round(col.digits) == round(target, col.digits)])
    return best


def display_frame(df: pd.DataFrame, bold: str = "**{}**", escape=lambda s: s) -> tuple[pd.DataFrame, list[str]]:
    """Strings for each visible column (mean ± std, best values bolded with ``bold``), plus footnotes."""
    cols = _visible_columns(df)
    out = pd.DataFrame(
        {c: df[c].map(lambda v: escape(str(v))) for c in cols if c not in {x.name for x in df.attrs["columns"]}},
        index=df.index,
    )
    for col in df.attrs["columns"]:
        best = _best(df, col)
        cells = []
        for i, row in df.iterrows():
            v, std = row[col.name], row.get(f"{col.name} std")
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append(escape(row["Δm note"] or "n/a") if col.name == DM_COL else escape("—"))
                continue
            signed = col.name == DM_COL and row["Model"] != SINGLE_TASK
            s = f"{v:+.{col.digits}f}" if signed else f"{v:.{col.digits}f}"
            if std is not None and not (isinstance(std, float) and math.isnan(std)):
                s += f" ± {std:.{col.digits}f}"
            s = escape(s)
            cells.append(bold.format(s) if i in best else s)
        out[col.name] = cells
    footnotes: list[str] = []
    for i, row_notes in enumerate(df.attrs["notes"]):
        for colname, texts in row_notes.items():
            target = DM_COL if colname == "Δm" else colname
            for text in texts:
                if text not in footnotes:
                    footnotes.append(text)
                cell = cast(str, out.loc[i, target])  # every cell of ``out`` is a string (built above)
                out.loc[i, target] = f"{cell} [{footnotes.index(text) + 1}]"
    return out[cols], [escape(f) for f in footnotes]


_LATEX = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "×": r"$\times$",
    "—": "---",
}


def _latex_escape(s: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(s))


def render(df: pd.DataFrame, fmt: str = "github") -> str:
    """Render a :func:`build_frame` frame as github markdown, LaTeX booktabs, CSV, HTML or JSON."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown format '{fmt}'; valid: {', '.join(FORMATS)}.")
    if fmt == "csv":
        return df.to_csv(index=False, float_format="%.6g")
    if fmt == "json":
        rows = json.loads(df.to_json(orient="records", force_ascii=False, double_precision=10))
        return (
            json.dumps(
                {
                    "columns": [{"name": c.name, "higher_is_better": c.higher_is_better} for c in df.attrs["columns"]],
                    "rows": rows,
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )
    if fmt == "github":
        from tabulate import tabulate

        shown, foot = display_frame(df)
        # tabulate documents and supports a DataFrame; the types-tabulate stubs omit it
        text = tabulate(
            shown,  # type: ignore[arg-type]
            headers="keys",
            tablefmt="github",
            showindex=False,
            disable_numparse=True,
        )
        return text + "\n" + "".join(f"\n[{i}] {f}" for i, f in enumerate(foot, 1)) + ("\n" if foot else "")
    if fmt == "html":
        shown, foot = display_frame(df, bold="<b>{}</b>", escape=html.escape)
        shown.columns = [html.escape(c) for c in shown.columns]
        text = shown.to_html(index=False, escape=False, border=0)
        if foot:
            text += "\n<ol>\n" + "".join(f"  <li>{f}</li>\n" for f in foot) + "</ol>"
        return text + "\n"
    shown, foot = display_frame(df, bold=r"\textbf{{{}}}", escape=_latex_escape)
    lines = [
        r"\begin{tabular}{" + "l" * len(shown.columns) + "}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in shown.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(row) + r" \\" for row in shown.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par{{\footnotesize [{i}] {f}}}" for i, f in enumerate(foot, 1)]
    return "\n".join(lines) + "\n"


def leaderboard(
    results: Path | str = "results",
    *,
    dataset: str | None = None,
    backbone: str | None = None,
    fmt: str = "github",
    out: Path | str | None = None,
) -> str:
    """Load every record under ``results`` (``reference/`` excluded), build and render the leaderboard;
    write it atomically to ``out`` when given. Returns the rendered text."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown format '{fmt}'; valid: {', '.join(FORMATS)}.")
    records = load_records(results)
    text = render(build_frame(records, dataset=dataset, backbone=backbone), fmt)
    if out is not None:
        atomic_write_text(Path(out), text)
    return text
