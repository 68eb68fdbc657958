"""Plots: the Pareto plot of a leaderboard (Δm against GMACs, marker area proportional to parameters) and
learning curves (validation primary metrics against iterations, one panel per main task, one line per run)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtbench.errors import MtbenchError, RecordError, UsageError
from mtbench.reporting.leaderboard import CI_HIGH, CI_LOW, DM_COL, build_frame
from mtbench.reporting.results import (
    CURVE_CSV,
    MAX_CURVE_POINTS,
    Curve,
    CurvePoint,
    RunRecord,
    load_record,
    load_records,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated by another (lower-or-equal GMACs and higher-or-equal Δm, one
    strictly), sorted by GMACs. Convention: x = GMACs (lower is better), y = Δm % (higher is better)."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def pareto_plot(
    results: Path | str,
    dataset: str,
    out: Path | str,
    *,
    backbone: str | None = None,
    source: str = "measured",
    records: Sequence[RunRecord] | None = None,
) -> Path:
    """Write a PNG: one marker per leaderboard row of ``source`` (mean over seeds, error bar = Δm's 95 %
    interval: t over seeds, or the paired bootstrap for one seed), the Pareto front of those rows as a line.
    ``records``: the records to draw (default: every record under ``results``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = list(records) if records is not None else load_records(results)
    df = build_frame(recs, dataset=dataset, backbone=backbone)
    df = df[(df["Source"] == source) & df[DM_COL].notna() & df["GMACs"].notna()].reset_index(drop=True)
    if df.empty:
        raise MtbenchError(f"no {source} rows with Δm and GMACs for dataset '{dataset}' in {results}")
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for _, r in df.iterrows():
        label = r["Model"] + (f" (+{r['Aux tasks']})" if r["Aux tasks"] != "—" else "")
        size = 60 + 40 * (r["Params (M)"] or 0)
        lo, hi = r.get(f"{DM_COL} {CI_LOW}"), r.get(f"{DM_COL} {CI_HIGH}")
        known = lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi))
        ax.errorbar(
            r["GMACs"],
            r[DM_COL],
            yerr=[[r[DM_COL] - lo], [hi - r[DM_COL]]] if known else None,
            fmt="none",
            ecolor="grey",
            capsize=3,
            zorder=1,
        )
        ax.scatter(r["GMACs"], r[DM_COL], s=size, alpha=0.7, zorder=2, label=f"{label}, {r['Params (M)']:.1f}M")
        ax.annotate(label, (r["GMACs"], r[DM_COL]), textcoords="offset points", xytext=(6, 6), fontsize=8)
    pts = list(zip(df["GMACs"], df[DM_COL]))
    front = pareto_front(pts)
    ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "k--", lw=1, label="Pareto front", zorder=0)
    title = f"{dataset}: multi-task gain vs cost (marker area ∝ params)"
    return finish_delta_m_plot(fig, ax, "GMACs per image (fvcore: 1 multiply-add = 1 MAC)", title, out, legend_size=7)


def finish_delta_m_plot(fig: Figure, ax: Any, xlabel: str, title: str, out: Path | str, legend_size: int = 8) -> Path:
    """The common end of a plot of Δm with its 95 % intervals: the 0 line, labels, legend, then the PNG."""
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Δm vs single-task (%) ↑, 95 % interval")
    ax.set_title(title)
    ax.legend(fontsize=legend_size, loc="best")
    fig.tight_layout()
    return save_figure(fig, out)


def save_figure(fig: Figure, out: Path | str) -> Path:
    """Write ``fig`` to ``out`` (PNG) atomically: a temp file beside it, then a rename; closes the figure. The PNG
    carries no matplotlib version (metadata "Software" dropped): the same figure gives the same bytes."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    try:
        fig.savefig(tmp, metadata={"Software": None})
    finally:
        plt.close(fig)
    tmp.replace(out)
    return out


# ---- learning curves ---------------------------------------------------------------------------------

HOW = "a run records one with eval.every_iters > 0, e.g. --set eval.every_iters=100"
NO_CURVE = f"no learning curve ({HOW})"
MAX_CURVE_CSV_BYTES = 16 << 20
CURVE_X = {"iteration": "iteration", "images": "training images seen", "epoch": "epoch"}


def _number(row: dict[str, str], key: str) -> float | None:
    v = row.get(key)
    if v is None or v == "":
        return None
    x = float(v)
    return x if math.isfinite(x) else None


def _unfinished_run(run_dir: Path) -> RunRecord:
    """A run folder without record.json (still training, or stopped) as a record of status 'running' holding
    the curve so far: model, seed and split from its config.yaml, the points from its curve.csv (main tasks:
    the tasks whose primary metric has a column)."""
    from mtbench.config import load_raw, validate_config
    from mtbench.registry import get_task, list_tasks

    path = run_dir / CURVE_CSV
    if not path.is_file():
        raise RecordError(f"{run_dir}: run folder without record.json or {CURVE_CSV} (no curve point yet? {HOW})")
    try:
        if path.stat().st_size > MAX_CURVE_CSV_BYTES:
            raise ValueError(f"{path.stat().st_size} bytes (at most {MAX_CURVE_CSV_BYTES})")
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        if not rows:
            raise ValueError("no points")
        cfg = validate_config(load_raw(str(run_dir / "config.yaml")), origin=str(run_dir / "config.yaml"))
        columns = list(rows[0])
        found = {t: f"val_{t}_{get_task(t).primary}" for t in list_tasks()}
        tasks = sorted((t for t, c in found.items() if c in columns), key=lambda t: columns.index(found[t]))
        if not tasks:
            raise ValueError("no column of a task's primary metric")
        step = max(1, math.ceil(len(rows) / MAX_CURVE_POINTS))
        kept = rows[::step]
        kept[-1] = rows[-1]  # the end of the curve so far, always
        points = [
            CurvePoint(
                iteration=int(r["iteration"]),
                epoch=_number(r, "epoch"),
                images=int(r["images"]),
                loss=_number(r, "loss_total"),
                seconds=_number(r, "seconds"),
                primary={t: _number(r, found[t]) for t in tasks},
            )
            for r in kept
        ]
        curve = Curve(
            split=cfg.eval.split,
            eval_images=int(rows[-1].get("eval_images") or 0),
            every_iters=max(1, cfg.eval.every_iters),
            points=points,
        )
        return RunRecord(
            id=run_dir.resolve().name,
            status="running",
            model=cfg.model.name,
            backbone=cfg.model.backbone,
            dataset=cfg.data.dataset,
            split=cfg.eval.split,
            tasks=tasks,
            config_hash=cfg.hash(),
            seed=cfg.run.seed,
            curve=curve,
        )
    except MtbenchError as e:
        raise RecordError(f"{run_dir}: {e}") from e
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, KeyError, TypeError) as e:
        detail = " ".join(str(e).split())[:200]
        raise RecordError(f"{path}: malformed learning curve ({type(e).__name__}: {detail})") from e


def load_curves(sources: Sequence[Path | str]) -> list[RunRecord]:
    """The records with a learning curve among ``sources``: record files, run folders (their record.json; an
    unfinished run's curve.csv and config.yaml) and folders of either (a results folder, a runs folder; their
    records without a curve are skipped). A file or run folder without a curve is a one-line RecordError, so is
    a folder without any; a run met twice (its results record and its run folder's) is plotted once."""
    out: dict[str, RunRecord] = {}
    for src in map(Path, sources):
        if src.is_dir() and (src / "config.yaml").is_file():  # a run folder
            found = [load_record(src / "record.json") if (src / "record.json").is_file() else _unfinished_run(src)]
            one = True
        elif src.is_dir():
            found, one = load_records(src), False
        elif src.exists():
            found, one = [load_record(src)], True
        else:
            raise RecordError(f"{src}: no such record file, run folder or results folder")
        with_curve = [r for r in found if r.curve is not None and r.curve.points]
        if not with_curve and one:
            raise RecordError(f"{found[0].where}: {NO_CURVE}")
        if not with_curve:
            raise RecordError(f"{src}: none of its {len(found)} record(s) has a learning curve ({HOW})")
        for r in with_curve:
            out.setdefault(r.id, r)
    return list(out.values())


def _curve_labels(records: Sequence[RunRecord]) -> list[str]:
    """Legend labels: model and seed (dataset first when the runs span several; the run id's last 8 characters
    when two runs would share a label; '(running)' for an unfinished run)."""
    datasets = {r.dataset for r in records}
    base = [
        (f"{r.dataset}: " if len(datasets) > 1 else "")
        + f"{r.model} seed {r.seed}"
        + " (running)" * (r.status == "running")
        for r in records
    ]
    return [b + (f" [{r.id[-8:]}]" if base.count(b) > 1 else "") for b, r in zip(base, records)]


def curves_figure(records: Sequence[RunRecord], tasks: Sequence[str] | None = None, x: str = "iteration") -> Figure:
    """A figure with one panel per main task (``tasks``, default: every main task of the runs, in order of
    appearance): the task's primary metric on the curve's evaluation subset against ``x`` ('iteration',
    'images' or 'epoch'), one line per run that has the task, the metric's unit and direction on the y axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtbench.registry import get_task

    if x not in CURVE_X:
        raise UsageError(f"--x {x}: choose {', '.join(CURVE_X)}")
    if not records:
        raise RecordError(f"no learning curve to plot ({HOW})")
    present = list(dict.fromkeys(t for r in records for t in r.tasks))
    if tasks:
        missing = [t for t in tasks if t not in present]
        if missing:
            raise UsageError(f"--task {','.join(missing)}: no plotted run has it as a main task ({', '.join(present)})")
    shown = list(tasks or present)
    labels = _curve_labels(records)
    fig, axes = plt.subplots(1, len(shown), figsize=(4.8 * len(shown), 3.8), dpi=120, squeeze=False)
    for ax, t in zip(axes[0], shown):
        try:
            spec = get_task(t).primary_spec
            unit = f" ({spec.unit})" if spec.unit else ""
            ax.set_ylabel(f"{t} {spec.name}{unit} {spec.arrow}")
        except MtbenchError:  # a task this installation does not know: its values, without unit or direction
            ax.set_ylabel(t)
        for r, label in zip(records, labels):
            if t not in r.tasks or r.curve is None:
                continue
            pts: list[CurvePoint] = r.curve.points
            xs: list[Any] = [getattr(p, x) for p in pts]
            ys = [math.nan if p.primary.get(t) is None else p.primary[t] for p in pts]
            ax.plot([math.nan if v is None else v for v in xs], ys, marker="o", ms=3, lw=1.2, label=label)
        ax.set_xlabel(CURVE_X[x])
        ax.set_title(t)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    subsets = sorted(
        {f"{r.dataset} {r.curve.split}, first {r.curve.eval_images} images" for r in records if r.curve is not None}
    )
    fig.suptitle("validation curves: " + "; ".join(subsets), fontsize=9)
    fig.tight_layout()
    return fig


def curves_plot(
    sources: Sequence[Path | str], out: Path | str, *, tasks: Sequence[str] | None = None, x: str = "iteration"
) -> Path:
    """``mtbench plot --curves``: write one PNG of the learning curves of the runs in ``sources`` (see
    :func:`load_curves`, :func:`curves_figure`)."""
    return save_figure(curves_figure(load_curves(sources), tasks, x), out)
