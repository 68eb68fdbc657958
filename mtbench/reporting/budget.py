"""The budget study: Δm of each model against its training budget (iterations), with 95 % intervals.

Rows come from :func:`mtbench.reporting.leaderboard.build_frame` over the committed benchmark records and the
study's (``results/budget/``): every budget is its own configuration (its own number of training scenes), so
each (model, budget) is one row, paired with the single-task baselines trained on the same budget. The page
draws it (``budget_<dataset>.png``) and states, per model, where the interval lies at each budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats as sps

from mtbench.reporting.delta_m import SINGLE_TASK
from mtbench.reporting.leaderboard import CI_HIGH, CI_LOW, DM_COL, build_frame, finite
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


def study_rows(records: Sequence[RunRecord], dataset: str) -> list[RunRecord]:
    """``dataset``'s measured records (not floors) whose training budget is known: what the study compares."""
    return [
        r
        for r in records
        if r.dataset == dataset and r.source == "measured" and not r.is_floor and training_iterations(r) is not None
    ]


def budget_frame(records: Sequence[RunRecord], dataset: str) -> pd.DataFrame:
    """One row per (model, budget) of ``dataset``'s measured records with a known budget: model (its label
    without the budget), iterations, Δm with its 95 % interval, n and whether Δm was paired."""
    recs = study_rows(records, dataset)
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
        lo = [v - low if finite(low) else 0.0 for v, low in zip(y, sub[CI_LOW])]
        hi = [high - v if finite(high) else 0.0 for v, high in zip(y, sub[CI_HIGH])]
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
    if not finite(v):
        return "n/a"
    if finite(lo) and finite(hi):
        n = "n=1: over images only, not seeds" if row["Seeds"] == 1 else f"n={row['Seeds']}"
        return f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}] ({n})"
    return f"{v:+.2f} (n={row['Seeds']}, no interval)"


def _side(row: pd.Series) -> str:
    lo, hi = row[CI_LOW], row[CI_HIGH]
    if not (finite(lo) and finite(hi)):
        return "no interval"
    return "better than single-task" if lo > 0 else "worse than single-task" if hi < 0 else "not resolved from 0"


def verdicts(frame: pd.DataFrame) -> list[str]:
    """One plain sentence per model: its Δm interval at each budget and where it lies (above 0: better than
    single-task; below: worse; containing 0: not resolved), and whether it beats single-task at any budget with
    2 seeds or more (one seed's bootstrap interval says how well the images pin that run, not the seed noise)."""
    out = []
    for model in dict.fromkeys(frame["Model"]):
        sub = frame[frame["Model"] == model]
        sides = [_side(row) for _, row in sub.iterrows()]
        where = "; ".join(
            f"{row['Iterations']} it: {_interval_text(row)}" + ("" if side == "no interval" else f", {side}")
            for (_, row), side in zip(sub.iterrows(), sides)
        )
        better = [  # one seed's interval covers the validation images only: no claim rests on it
            str(row["Iterations"])
            for (_, row), side in zip(sub.iterrows(), sides)
            if side.startswith("better") and row["Seeds"] >= 2
        ]
        if better:
            verdict = f"beats single-task (95 %) at {', '.join(better)} iterations"
        elif all(row["Seeds"] < 2 for _, row in sub.iterrows()):
            verdict = "cannot be judged yet (one seed per budget)"
        elif any(row["Seeds"] < 2 for _, row in sub.iterrows()):
            verdict = "does not beat single-task (95 %) at any budget with 2 seeds or more"
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
        *choice_section(records, dataset),
    ]
    return "\n".join(lines)


MIN_SEEDS = 3
"""Seeds a budget's multi-task rows need before it is compared: a spread measured from 2 seeds is too uncertain."""

TARGET_HALF_WIDTH = 2.0
"""The benchmark's goal for every measured row's Δm: a 95 % interval of half-width <= 2 points (issue 18)."""


def _seed_costs(group: Sequence[RunRecord]) -> float | None:
    """Mean over seeds of one seed's wall seconds (its records' ``timings.total`` summed, e.g. a single_task
    row's networks; repeated runs of a seed averaged), or None when a record has no timing."""
    by_seed: dict[object, dict[tuple, list[float]]] = {}
    for r in group:
        if "total" not in r.timings:
            return None
        by_seed.setdefault(r.seed if r.seed is not None else r.id, {}).setdefault(tuple(r.tasks), []).append(
            float(r.timings["total"])
        )
    per = [sum(sum(v) / len(v) for v in parts.values()) for parts in by_seed.values()]
    return sum(per) / len(per) if per else None


def choice_frame(records: Sequence[RunRecord], dataset: str, goal: float = TARGET_HALF_WIDTH) -> pd.DataFrame:
    """One row per (budget, model) of ``dataset``'s measured records: n, the between-seed std of paired Δm,
    the image-bootstrap std of one run's Δm (mean over seeds: how much the fixed validation scenes pin a run's
    value), the seeds a 95 % t interval of half-width ``goal`` needs at that std, and the wall hours one seed
    of the row costs (single_task rows: every task's network)."""
    from mtbench.reporting.delta_m import group_delta_m
    from mtbench.reporting.stats import seeds_for_half_width

    recs = study_rows(records, dataset)
    cols = ["Iterations", "Model", "Seeds", "Δm std", "Image std", "Seeds for goal", "Hours per seed"]
    if not recs:
        return pd.DataFrame(columns=cols)
    df = build_frame(recs, dataset=dataset)
    by_id = {r.id: r for r in recs}
    rows: list[dict[str, Any]] = []
    for _, row in df.iterrows():
        group = [by_id[i] for i in str(row["Record ids"]).split() if i in by_id]
        iters = {training_iterations(r) for r in group}
        if len(iters) != 1:
            continue
        cost = _seed_costs(group)
        single = str(row["Model"]).startswith(SINGLE_TASK)
        std = image = need = None
        if not single:
            res = group_delta_m(group, recs)
            if res.sample is not None and res.sample.n >= 2 and res.interval is not None:
                std = res.interval.std
                need = seeds_for_half_width(std, goal) if std is not None else None
            reps = res.sample.replicates if res.sample is not None else {}
            stds = [float(a[np.isfinite(a)].std(ddof=1)) for a in reps.values() if np.isfinite(a).sum() > 1]
            image = sum(stds) / len(stds) if stds else None
        rows.append(
            {
                "Iterations": iters.pop(),
                "Model": _base_label(str(row["Model"])),
                "Seeds": int(row["Seeds"]),
                "Δm std": std,
                "Image std": image,
                "Seeds for goal": need,
                "Hours per seed": cost / 3600 if cost is not None else None,
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["Iterations", "Model"], kind="stable").reset_index(drop=True)


def budget_costs(frame: pd.DataFrame) -> pd.DataFrame:
    """Per budget, over the same multi-task models at every budget compared (so budgets compare on the same rows):
    the seeds that bring each of those rows to the goal (their maximum), one seed's wall hours of all of them with
    their single-task baselines, and the product, the benchmark's cost at the goal.

    The models compared are those present at every budget where some multi-task row has ``MIN_SEEDS`` seeds or
    more; a budget where one of them has fewer seeds (or is missing) is not compared yet (None)."""
    budgets = sorted(set(frame["Iterations"]))
    multi_rows = frame[~frame["Model"].str.startswith(SINGLE_TASK)]
    present = {b: set(multi_rows[multi_rows["Iterations"] == b]["Model"]) for b in budgets}
    spread = {  # the models whose Δm has a measured spread (MIN_SEEDS seeds or more) at each budget
        b: {
            m
            for i, m, n, v in multi_rows[["Iterations", "Model", "Seeds", "Seeds for goal"]].itertuples(index=False)
            if i == b and n >= MIN_SEEDS and finite(v)
        }
        for b in budgets
    }
    ready = [b for b in budgets if spread[b]]
    common_set = set.intersection(*(present[b] for b in ready)) if ready else set()
    common = [m for m in dict.fromkeys(multi_rows["Model"]) if m in common_set]
    rows = []
    for b in budgets:
        multi = multi_rows[(multi_rows["Iterations"] == b) & multi_rows["Model"].isin(common)]
        single = frame[(frame["Iterations"] == b) & frame["Model"].str.startswith(SINGLE_TASK)]
        compared = bool(common) and set(common) <= spread[b]
        need = int(max(multi["Seeds for goal"])) if compared else None
        parts = list(multi["Hours per seed"]) + list(single["Hours per seed"])
        hours = float(sum(parts)) if compared and len(single) and all(finite(v) for v in parts) else None
        rows.append(
            {
                "Iterations": b,
                "Models": ", ".join([*common, SINGLE_TASK]) if common else "",
                "Seeds now": int(multi["Seeds"].min()) if len(multi) else 0,
                "Seeds for goal": need,
                "Hours per seed": hours,
                "Hours at goal": need * hours if need is not None and hours is not None else None,
            }
        )
    return pd.DataFrame(rows)


def _hours(h: object) -> str:
    """Hours to 2 significant figures below 10 (``0.9``, ``6.5``), whole above (``13``); "—" when unknown."""
    return _num(h, ".1f" if finite(h) and float(h) < 10 else ".0f")  # type: ignore[arg-type]


def _num(v: object, fmt: str) -> str:
    return format(v, fmt) if finite(v) else "—"


def cheapest(costs: pd.DataFrame) -> pd.Series | None:
    """The row of :func:`budget_costs` whose goal costs the fewest hours (ties: the larger budget), or None."""
    known = costs[[finite(v) for v in costs["Hours at goal"]]] if len(costs) else costs
    if not len(known):
        return None
    return known.sort_values(["Hours at goal", "Iterations"], ascending=[True, False], kind="stable").iloc[0]


def chosen_budget(records: Sequence[RunRecord], dataset: str, goal: float = TARGET_HALF_WIDTH) -> pd.Series | None:
    """The :func:`budget_costs` row of the budget at which the goal costs least over the budgets measured
    (``Iterations``, ``Seeds for goal``, ...), or None."""
    frame = choice_frame(records, dataset, goal)
    if frame.empty or frame["Iterations"].nunique() < 2:
        return None
    return cheapest(budget_costs(frame))


@dataclass
class TextTable:
    """A small table as text cells, written by the page as markdown and by the site as HTML."""

    caption: str
    header: list[str]
    rows: list[list[str]]

    def markdown(self) -> list[str]:
        align = ["---" if h == "model" else "---:" for h in self.header]
        return [
            self.caption,
            "",
            f"| {' | '.join(self.header)} |",
            f"|{'|'.join(align)}|",
            *[f"| {' | '.join(r)} |" for r in self.rows],
            "",
        ]


@dataclass
class Choice:
    """How the benchmark is chosen, in words: its heading, tables and sentences (markdown inline marks)."""

    heading: str
    tables: list[TextTable]
    sentences: list[str]

    def markdown(self) -> list[str]:
        lines = [f"#### {self.heading}", ""]
        for t in self.tables:
            lines += t.markdown()
        for sentence in self.sentences:
            lines += [sentence, ""]
        return lines


def benchmark_choice(records: Sequence[RunRecord], dataset: str, goal: float = TARGET_HALF_WIDTH) -> Choice | None:
    """Per budget and model the spread of Δm and the seeds the goal needs, per budget what the goal costs, the
    cheapest budget measured, and what the validation size contributes; None with fewer than 2 budgets."""
    frame = choice_frame(records, dataset, goal)
    if frame.empty or frame["Iterations"].nunique() < 2:
        return None
    costs = budget_costs(frame)
    per_model = TextTable(
        "Per budget and model: the std of paired Δm over seeds, the std of one run's Δm over bootstrap resamples of "
        f"the validation images (mean over seeds), the seeds a 95 % t interval of half-width {goal:g} needs at that "
        "spread, and the wall hours one seed costs (one CPU thread beside another run; single_task: one network per "
        "task).",
        [
            "iterations",
            "model",
            "seeds",
            "Δm std over seeds",
            "Δm std over images",
            f"seeds for ±{goal:g}",
            "h per seed",
        ],
        [
            [
                str(r["Iterations"]),
                str(r["Model"]),
                str(r["Seeds"]),
                _num(r["Δm std"], ".2f"),
                _num(r["Image std"], ".2f"),
                _num(r["Seeds for goal"], ".0f"),
                _num(r["Hours per seed"], ".2f"),
            ]
            for _, r in frame.iterrows()
        ],
    )
    models = costs["Models"].iloc[0] if len(costs) else ""
    per_budget = TextTable(
        f"What the goal costs at each budget, over the same models everywhere ({models}): the most seeds any of "
        f"their multi-task rows needs, times one seed of all of them. A budget where one of them has fewer than "
        f"{MIN_SEEDS} seeds is not compared yet (the std of 2 seeds has one degree of freedom: its 95 % interval "
        "spans a factor of 70).",
        ["iterations", "seeds now", f"seeds for ±{goal:g}", "h per seed", "h at the goal"],
        [
            [
                str(c["Iterations"]),
                str(c["Seeds now"]),
                str(int(c["Seeds for goal"]))
                if finite(c["Seeds for goal"])
                else f"— (needs {MIN_SEEDS} seeds of each model)",
                _num(c["Hours per seed"], ".1f"),
                _hours(c["Hours at goal"]),
            ]
            for _, c in costs.iterrows()
        ],
    )
    sentences = []
    best = cheapest(costs)
    if best is not None:
        hours = best["Hours at goal"]
        n = int(best["Seeds now"])
        lo, hi = (math.sqrt((n - 1) / float(sps.chi2.ppf(q, n - 1))) for q in (0.975, 0.025))
        sentences.append(
            f"Cheapest measured budget for the goal: **{best['Iterations']} iterations × {int(best['Seeds for goal'])} "
            f"seeds, ≈ {_hours(hours)} h** of one-thread wall time ({_hours(hours / 2)} h on "
            f"two cores as two sweeps side by side), against {best['Seeds now']} seeds measured there. The seeds "
            f"needed come from the spread of the seeds measured, itself uncertain: from {n} seeds the 95 % interval "
            f"of a std spans {lo:.2f}× to {hi:.1f}× the value measured, so they are estimates, to be refined as "
            "seeds are added."
        )
    both = frame[[finite(a) and finite(b) for a, b in zip(frame["Δm std"], frame["Image std"])]]
    if len(both):
        seed_sd, image_sd = float(both["Δm std"].mean()), float(both["Image std"].mean())
        sentences.append(
            "Validation size: every seed is evaluated on the same validation scenes, so the spread over seeds is "
            f"training noise. One run's Δm moves by {image_sd:.2f} points (std) when its images are resampled, "
            f"against {seed_sd:.2f} between seeds (means over the rows above): more validation scenes would "
            "narrow what a run measures, not the interval over seeds; only seeds (or a budget at which seeds agree "
            "more) do."
        )
    heading = f"Choosing the benchmark: every row's Δm 95 % half-width ≤ {goal:g} points"
    return Choice(heading, [per_model, per_budget], sentences)


def choice_section(records: Sequence[RunRecord], dataset: str, goal: float = TARGET_HALF_WIDTH) -> list[str]:
    """:func:`benchmark_choice` as markdown lines; [] without data."""
    choice = benchmark_choice(records, dataset, goal)
    return choice.markdown() if choice is not None else []
