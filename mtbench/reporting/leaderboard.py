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
from mtbench.reporting.delta_m import SINGLE_TASK, bootstrap_replicates, group_delta_m, primary_metric, seed_sample
from mtbench.reporting.results import RunRecord, atomic_write_text, benchmark_config, load_records
from mtbench.reporting.stats import Interval, Sample, difference

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


def _bench_key(r: RunRecord) -> str:
    """The stored config but model, seed and what the hash ignores (single_task: its task too), as JSON:
    records of one row ran the same experiment but for the seed (e.g. not another training budget)."""
    cfg = benchmark_config(r) if r.config else {}
    if r.model == SINGLE_TASK and isinstance(cfg.get("data"), dict):
        cfg = {**cfg, "data": {k: v for k, v in cfg["data"].items() if k != "tasks"}}
    return json.dumps(cfg, sort_keys=True, default=str)


def _group_key(r: RunRecord) -> tuple:
    tasks = () if r.model == SINGLE_TASK else tuple(r.tasks)
    return (
        r.origin,
        _bench_key(r),
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
    all_samples: list[dict[str, Sample | None]] = []
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
        samples: dict[str, Sample | None] = {}
        for t, col in metric_cols.items():
            sample = _metric_sample(group, t)
            samples[col.name] = sample if sample.n else None
            _put(row, col.name, sample.interval() if sample.n else None)
        dm = group_delta_m(group, pool)
        samples[DM_COL] = dm.sample
        _put(row, DM_COL, dm.interval if dm.interval is not None else None if dm.value is None else Interval(dm.value))
        row["Δm note"] = dm.reason
        row["Δm paired"] = dm.paired
        row["Δm sig"] = dm.interval.sign(0.0) if dm.interval is not None and dm.kind == "computed" else 0
        row.update(_cost(group))
        row["Device"] = ", ".join(sorted({r.cost.device for r in group if r.cost.device})) or "—"
        runs = {(r.seed if r.seed is not None else r.id, tuple(r.tasks)) for r in group}
        row["Seeds"] = len({seed for seed, _ in runs})
        row["Repeats"] = len(group) - len(runs)
        row["Source"] = first.source + (f" ({first.origin})" if first.origin else "")
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
        all_samples.append(samples)
    _label_configs(rows, [groups[k] for k in groups])
    df = pd.DataFrame(rows)
    numeric = [c.name for c in metric_cols.values()] + [DM_COL] + [c for c, _ in COST_COLS]
    numeric += [f"{c} {x}" for c in numeric for x in ("std", CI_LOW, CI_HIGH) if f"{c} {x}" in df]
    for c in numeric:
        df[c] = pd.to_numeric(df[c]).astype(float)
    df["_dm_sort"] = df[DM_COL].fillna(-math.inf)
    order = df.sort_values(
        ["Dataset", "Split", "_dm_sort", "Model"], ascending=[True, True, False, True], kind="stable"
    ).index
    df = df.loc[order].drop(columns="_dm_sort").reset_index(drop=True)
    df.attrs["notes"] = [notes[i] for i in order]
    df.attrs["samples"] = [all_samples[i] for i in order]
    df.attrs["columns"] = [*metric_cols.values(), Column(DM_COL, True, 2), *(Column(c, False, d) for c, d in COST_COLS)]
    for col in df.attrs["columns"]:
        if col.name not in dict(COST_COLS):
            best = _best(df, col)
            df[f"{col.name} best"] = [i in best or i in _tied(df, col, best) for i in df.index]
    return df


CI_LOW, CI_HIGH = "ci95_low", "ci95_high"


def _put(row: dict[str, object], name: str, iv: Interval | None) -> None:
    """A mean with its std, 95 % interval bounds, n and interval method into ``row`` (None: no value)."""
    row[name] = iv.mean if iv is not None else None
    row[f"{name} std"] = iv.std if iv is not None else None
    row[f"{name} {CI_LOW}"] = iv.low if iv is not None else None
    row[f"{name} {CI_HIGH}"] = iv.high if iv is not None else None
    row[f"{name} ci"] = iv.method if iv is not None else "none"


def _metric_sample(group: Sequence[RunRecord], task: str) -> Sample:
    """Per-seed values (repeats averaged) of ``task``'s primary metric, with bootstrap replicates if stored."""
    recs = [r for r in group if task in r.tasks]
    reps = []
    for r in recs:
        b = bootstrap_replicates(r, task)
        reps.append(b[1] if b is not None else None)
    return seed_sample(recs, [primary_metric(r, task) for r in recs], reps)


def _flat(d: object, prefix: str = "") -> dict[str, str]:
    if not isinstance(d, dict):
        return {prefix: json.dumps(d, sort_keys=True, default=str)}
    out: dict[str, str] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _label_configs(rows: list[dict[str, object]], groups: list[list[RunRecord]]) -> None:
    """Rows of one model (label) that ran different configurations (e.g. training budgets) get the config fields
    that differ among them appended to their label, e.g. ``mtinet [data.n_train=12288]``."""
    by_label: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        # the source's kind only: a budget/ or local/ row of another configuration is labelled by what differs
        by_label.setdefault(tuple(str(row[c]).split(" (")[0] for c in _IDENTITY), []).append(i)
    for idx in by_label.values():
        flats = [_flat(json.loads(_bench_key(groups[i][0]))) for i in idx]
        keys = sorted({k for f in flats for k in f if k not in _SHOWN and len({g.get(k) for g in flats}) > 1})
        if len(idx) < 2 or not keys:
            continue
        for i, f in zip(idx, flats):
            rows[i]["Model"] = f"{rows[i]['Model']} [{', '.join(f'{k}={f.get(k, UNSET_VALUE)}' for k in keys)}]"


UNSET_VALUE = "—"
_IDENTITY = ("Model", "Dataset", "Split", "Source", "Backbone", "Tasks", "Aux tasks", "Input")
# config fields the table shows in columns of their own (rows differing there are told apart already)
_SHOWN = {"model.backbone", "data.dataset", "data.tasks", "data.aux_tasks", "data.train_size", "eval.split"}


def _tied(df: pd.DataFrame, col: Column, best: set[int]) -> set[int]:
    """Rows statistically tied with a best row of ``col`` (same dataset/split and source kind): the 95 %
    interval of their difference (:func:`mtbench.reporting.stats.difference`) contains 0."""
    tied: set[int] = set()
    samples = df.attrs.get("samples") or []
    for b in best:
        sb = samples[b].get(col.name) if b < len(samples) else None
        if sb is None:
            continue
        for i in df.index:
            if i in best or any(str(df.at[i, c]) != str(df.at[b, c]) for c in ("Dataset", "Split")):
                continue
            if str(df.at[i, "Source"]).split()[0] != str(df.at[b, "Source"]).split()[0]:
                continue
            si = samples[i].get(col.name)
            d = difference(si, sb) if si is not None else None
            if d is not None and d.low is not None and d.sign(0.0) == 0:
                tied.add(i)
    return tied


POWER_HW, POWER_TEST = "Seeds for Δm ±{:g}", "Seeds for 80% power at Δm {:g}"


def add_power(df: pd.DataFrame, delta: float = 1.0) -> pd.DataFrame:
    """Seeds each multi-task row would need, from its measured between-seed std of (paired) Δm: for a 95 %
    interval of half-width <= ``delta`` points, and for a paired t-test at 5 % to detect a true Δm of ``delta``
    with 80 % power (noncentral t). Rows with fewer than two seeds cannot say ("n/a")."""
    from mtbench.reporting.stats import seeds_for_half_width, seeds_for_power

    if delta <= 0:
        raise UsageError(f"--power {delta}: the difference to resolve must be > 0 Δm points")
    hw: list[int | None] = []
    test: list[int | None] = []
    for _, row in df.iterrows():
        std = row.get(f"{DM_COL} std")
        if str(row["Model"]).startswith(SINGLE_TASK) or not finite(std) or row["Seeds"] < 2:
            hw.append(None)
            test.append(None)
            continue
        hw.append(seeds_for_half_width(float(cast(float, std)), delta))
        test.append(seeds_for_power(float(cast(float, std)), delta))
    df = df.copy()
    df[POWER_HW.format(delta)] = pd.array(hw, dtype="Int64")
    df[POWER_TEST.format(delta)] = pd.array(test, dtype="Int64")
    df.attrs["power"] = [POWER_HW.format(delta), POWER_TEST.format(delta)]
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
    cols += df.attrs.get("power", [])
    return cols


def _best(df: pd.DataFrame, col: Column) -> set[int]:
    """Row indices holding the best value of ``col`` within each dataset/split, among measured rows
    (among reported rows where a dataset has no measured row). Needs at least two candidates."""
    best: set[int] = set()
    for _, sub in df.groupby(["Dataset", "Split"]):
        measured = sub["Source"].str.startswith("measured")
        cand = sub[measured] if measured.any() else sub
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
        {
            c: df[c].map(lambda v: escape("n/a" if v is None or v is pd.NA else str(v)))
            for c in cols
            if c not in {x.name for x in df.attrs["columns"]}
        },
        index=df.index,
    )
    for col in df.attrs["columns"]:
        marked = df[f"{col.name} best"] if f"{col.name} best" in df else pd.Series(False, index=df.index)
        best = _best(df, col) if f"{col.name} best" not in df else {i for i in df.index if marked[i]}
        cells = []
        for i, row in df.iterrows():
            v = row[col.name]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append(escape(row["Δm note"] or "n/a") if col.name == DM_COL else escape("—"))
                continue
            signed = col.name == DM_COL and not str(row["Model"]).startswith(SINGLE_TASK)
            text = _cell(row, col, signed)
            if col.name == DM_COL and row.get("Δm sig"):
                text += " " + (BETTER if row["Δm sig"] > 0 else WORSE)
            text = escape(text)
            cells.append(bold.format(text) if i in best else text)
        out[col.name] = cells
    out["Seeds"] = [escape(_seeds(row)) for _, row in df.iterrows()]
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


BETTER, WORSE = "▲", "▼"  # Δm's 95 % interval above / below 0: better / worse than the single-task baselines


def finite(v: object) -> bool:
    """A real number (int or float, not NaN or infinite): a value a table can show."""
    return isinstance(v, (int, float)) and math.isfinite(v)


def _cell(row: pd.Series, col: Column, signed: bool) -> str:
    """``mean ± half-width`` (t over seeds), ``mean [low, high]`` (bootstrap over images, one seed) or ``mean``."""
    d = col.digits
    v, lo, hi = row[col.name], row.get(f"{col.name} {CI_LOW}"), row.get(f"{col.name} {CI_HIGH}")
    text = f"{v:+.{d}f}" if signed else f"{v:.{d}f}"
    method = row.get(f"{col.name} ci", "none")
    if not (finite(lo) and finite(hi)):
        return text
    low, high = float(cast(float, lo)), float(cast(float, hi))
    if method == "bootstrap":
        return text + (f" [{low:+.{d}f}, {high:+.{d}f}]" if signed else f" [{low:.{d}f}, {high:.{d}f}]")
    return text + f" ± {(high - low) / 2:.{d}f}"


def _seeds(row: pd.Series) -> str:
    """n as the table states it: seeds, reproductions (same configuration and seed run again) and, for one seed
    with bootstrap intervals, where its interval comes from."""
    n, rep = int(row["Seeds"]), int(row.get("Repeats", 0) or 0)
    text = f"{n}" + (f" ({rep} repeated)" if rep else "")
    methods = {row[c] for c in row.index if str(c).endswith(" ci")}
    if n == 1 and "bootstrap" in methods:
        text += " (bootstrap)"
    return text


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
    "▲": r"$\blacktriangle$",
    "▼": r"$\blacktriangledown$",
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
    power: float | None = None,
) -> str:
    """Load every record under ``results`` (``reference/`` excluded; ``local/`` and ``budget/`` rows labelled
    in Source), build and render the leaderboard, with :func:`add_power` columns for ``power`` Δm points;
    write it atomically to ``out`` when given. Returns the rendered text."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown format '{fmt}'; valid: {', '.join(FORMATS)}.")
    records = load_records(results)
    df = build_frame(records, dataset=dataset, backbone=backbone)
    text = render(add_power(df, power) if power is not None else df, fmt)
    if out is not None:
        atomic_write_text(Path(out), text)
    return text
