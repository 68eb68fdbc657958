"""Pareto plot of a leaderboard: Δm against GMACs, marker area proportional to parameters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from mtbench.errors import MtbenchError
from mtbench.reporting.leaderboard import CI_HIGH, CI_LOW, DM_COL, build_frame
from mtbench.reporting.results import RunRecord, load_records


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
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("GMACs per image (fvcore: 1 multiply-add = 1 MAC)")
    ax.set_ylabel("Δm vs single-task (%) ↑, 95 % interval")
    ax.set_title(f"{dataset}: multi-task gain vs cost (marker area ∝ params)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out
