"""The budget study: Δm of each model against its training budget (iterations), with 95 % intervals.

Rows come from :func:`mtbench.reporting.leaderboard.build_frame` over the committed benchmark records and the
study's (``results/budget/``): every budget is its own configuration (its own number of training scenes), so
each (model, budget) is one row, paired with the single-task baselines trained on the same budget. The page
draws it (``budget_<dataset>.png``) and states, per model, where the interval lies at each budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mtbench.reporting.delta_m import SINGLE_TASK
from mtbench.reporting.leaderboard import CI_HIGH, CI_LOW, DM_COL, build_frame
from mtbench.reporting.results import RunRecord


def training_iterations(r: RunRecord) -> int | None:
    """Optimiser steps of the run that wrote ``r``, from its stored config: ``train.max_iters`` when set, else
    (training images // batch size) × epochs; None when the config does not say (e.g. no ``data.n_train``)."""
    cfg = r.config if isinstance(r.config, dict) else {}
    train, data = cfg.get("train") or {}, cfg.get("data") or {}
    if isinstance(train.get("max_iters"), int):
        return int(train["max_iters"])
    n, batch, epochs = data.get("n_train"), train.get("batch_size"), train.get("epochs")
    if isinstance(n, int) and isinstance(batch, int) and isinstance(epochs, int) and min(n, batch, epochs) > 0:
        return (n // batch) * epochs
    return None


def budget_frame(records: Sequence[RunRecord], dataset: str) -> pd.DataFrame:
    """One row per (model, budget) of ``dataset``'s measured records with a known budget: model (its label
    without the budget), iterations, Δm with its 95 % interval, n and whether Δm was paired."""
    recs = [
        r
        for r in records
        if r.dataset == dataset and r.source == "measured" and not r.is_floor and training_iterations(r) is not None
    ]
    if not recs:
        return pd.DataFrame(columns=["Model", "Iterations", DM_COL, CI_LOW, CI_HIGH, "Seeds", "Paired"])
    df = build_frame(recs, dataset=dataset)
    by_id = {r.id: r for r in recs}
    rows: list[dict[str, Any]] = []
    for _, row in df.iterrows():
        ids = str(row["Record ids"]).split()
        iters = {training_iterations(by_id[i]) for i in ids if i in by_id}
        if len(iters) != 1 or str(row["Model"]).startswith(SINGLE_TASK):
            continue
        rows.append(
            {
                "Model": _base_label(str(row["Model"])),
                "Iterations": iters.pop(),
                DM_COL: row[DM_COL],
                CI_LOW: row.get(f"{DM_COL} {CI_LOW}"),
                CI_HIGH: row.get(f"{DM_COL} {CI_HIGH}"),
                "Seeds": int(row["Seeds"]),
                "Paired": row.get("Δm paired"),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values(["Model", "Iterations"], kind="stable").reset_index(drop=True) if rows else out


def _base_label(label: str) -> str:
    """A leaderboard label without the config suffix that tells budgets apart (``mtinet [data.n_train=...]``)."""
    return label.split(" [", 1)[0]


def _fin(v: object) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def budget_plot(frame: pd.DataFrame, dataset: str, out: Path | str) -> Path:
    """Δm against training iterations (log scale), one line per model, 95 % intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtbench.reporting.plots import finish_delta_m_plot

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    models = list(dict.fromkeys(frame["Model"]))
    for k, model in enumerate(models):
        sub = frame[frame["Model"] == model]
        x = sub["Iterations"].astype(float) * (1 + 0.03 * (k - (len(models) - 1) / 2))  # dodge overlapping bars
        y = sub[DM_COL].astype(float)
        lo = [v - low if _fin(low) else 0.0 for v, low in zip(y, sub[CI_LOW])]
        hi = [high - v if _fin(high) else 0.0 for v, high in zip(y, sub[CI_HIGH])]
        ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, label=model)
    ax.set_xscale("log")
    ticks = sorted(set(frame["Iterations"]))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()
    xlabel = "training iterations (log scale)"
    return finish_delta_m_plot(fig, ax, xlabel, f"{dataset}: multi-task gain against the training budget", out)


def _interval_text(row: pd.Series) -> str:
    v, lo, hi = row[DM_COL], row[CI_LOW], row[CI_HIGH]
    if not _fin(v):
        return "n/a"
    if _fin(lo) and _fin(hi):
        return f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}] (n={row['Seeds']})"
    return f"{v:+.2f} (n={row['Seeds']}, no interval)"


def _side(row: pd.Series) -> str:
    lo, hi = row[CI_LOW], row[CI_HIGH]
    if not (_fin(lo) and _fin(hi)):
        return "no interval"
    return "better than single-task" if lo > 0 else "worse than single-task" if hi < 0 else "not resolved from 0"


def verdicts(frame: pd.DataFrame) -> list[str]:
    """One plain sentence per model: its Δm interval at each budget and where it lies (above 0: better than
    single-task; below: worse; containing 0: not resolved), and whether it beats single-task at any budget."""
    out = []
    for model in dict.fromkeys(frame["Model"]):
        sub = frame[frame["Model"] == model]
        sides = [_side(row) for _, row in sub.iterrows()]
        where = "; ".join(
            f"{row['Iterations']} it: {_interval_text(row)}" + ("" if side == "no interval" else f", {side}")
            for (_, row), side in zip(sub.iterrows(), sides)
        )
        better = [str(row["Iterations"]) for (_, row), side in zip(sub.iterrows(), sides) if side.startswith("better")]
        if better:
            verdict = f"beats single-task (95 %) at {', '.join(better)} iterations"
        elif all(side == "no interval" for side in sides):
            verdict = "cannot be judged yet (one seed per budget: no interval)"
        else:
            verdict = "does not beat single-task (95 %) at any budget measured"
        out.append(f"**{model}** {verdict} ({where}).")
    return out


def budget_section(records: Sequence[RunRecord], dataset: str, out: Path, plots: bool) -> str:
    """Markdown for the page: the plot (written when ``plots``) and the verdicts; "" with fewer than 2 budgets."""
    frame = budget_frame(records, dataset)
    if frame.empty or frame["Iterations"].nunique() < 2:
        return ""
    png = out.parent / f"budget_{dataset}.png"
    if plots:
        budget_plot(frame, dataset, png)
    budgets = ", ".join(str(b) for b in sorted(set(frame["Iterations"])))
    lines = [
        f"### {dataset}: Δm against the training budget",
        "",
        f"Budget study (`mtbench sweep --preset budget-<iterations>`, records under `results/budget/`, the "
        f"{budgets}-iteration points; each budget paired with single-task baselines trained on the same budget "
        f"and seeds). Δm with its 95 % interval [low, high]:",
        "",
        *[f"- {v}" for v in verdicts(frame)],
        "",
        f"![Δm against the training budget on {dataset}]({png.name})",
        "",
    ]
    return "\n".join(lines)
