"""Statistics of the leaderboard: t intervals, bootstrap intervals, paired differences, seeds needed, the table's
significance marks and ties, n with repeated runs, and a user's own runs kept apart from the committed page."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _records import metric_record

from mtbench.reporting.leaderboard import DM_COL, add_power, build_frame, leaderboard
from mtbench.reporting.results import LOCAL_DIR, load_records, save_record
from mtbench.reporting.stats import (
    Sample,
    difference,
    percentile_interval,
    seeds_for_half_width,
    seeds_for_power,
    t_interval,
    welch_interval,
)

SEM = "semseg mIoU (%) ↑"


def test_t_interval_of_a_known_sample_equals_the_formula():
    iv = t_interval([1, 2, 3, 4, 5])
    # mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451 (tables): 3 ± 2.7764451 * 1.5811388 / sqrt(5)
    h = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert iv.mean == 3 and iv.n == 5 and iv.method == "t" and iv.std == pytest.approx(math.sqrt(2.5))
    assert (iv.low, iv.high) == pytest.approx((3 - h, 3 + h), abs=1e-6) and iv.half_width == pytest.approx(h, 1e-6)
    assert t_interval([4.0]).low is None and t_interval([4.0]).method == "none"
    assert t_interval([1, 2, 3], level=0.9).half_width == pytest.approx(2.9199856 * 1 / math.sqrt(3), abs=1e-6)


def test_percentile_interval_and_sign():
    reps = np.arange(1, 1001, dtype=float)  # quantiles 0.025 / 0.975 of 1..1000 (linear interpolation)
    iv = percentile_interval(500.0, reps)
    assert (iv.low, iv.high) == pytest.approx((25.975, 975.025)) and iv.method == "bootstrap" and iv.n == 1
    assert iv.sign(0) == 1 and iv.sign(2000) == -1 and iv.sign(500) == 0


def test_welch_and_paired_differences():
    a, b = Sample({0: 10.0, 1: 12.0, 2: 11.0}), Sample({0: 9.0, 1: 11.5, 2: 10.0})
    d = difference(a, b)  # paired over seeds 0, 1, 2: differences 1.0, 0.5, 1.0
    assert d.mean == pytest.approx(2.5 / 3) and d == t_interval([1.0, 0.5, 1.0])
    c = Sample({5: 9.0, 6: 11.5, 7: 10.0})  # no common seed: Welch
    w = welch_interval([10, 12, 11], [9, 11.5, 10])
    assert difference(a, c) == w
    # Welch by hand: se = sqrt(1/3 + 1.5833/3), df = se^4 / ((1/3)^2/2 + (1.5833/3)^2/2)
    va, vb = 1.0 / 3, np.var([9, 11.5, 10], ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    from scipy import stats as sps

    assert w.half_width == pytest.approx(sps.t.ppf(0.975, df) * math.sqrt(va + vb))
    # one seed each: the paired bootstrap when both carry replicates on the same images, else nothing
    one = Sample({0: 10.0}, {0: np.array([9.0, 10.0, 11.0, 10.5])})
    two = Sample({0: 9.0}, {0: np.array([8.5, 9.0, 10.0, 9.0])})
    db = difference(one, two)
    assert db.method == "bootstrap" and db.mean == 1.0
    assert (db.low, db.high) == pytest.approx(tuple(np.quantile([0.5, 1.0, 1.0, 1.5], [0.025, 0.975])))
    assert difference(Sample({0: 10.0}), two) is None


def test_seeds_needed_match_standard_power_tables():
    # CI half-width <= 1 at std 1: t(0.975, n-1)/sqrt(n) <= 1 first at n = 7 (2.447/2.646 = 0.925; n = 6: 1.049)
    assert seeds_for_half_width(1.0, 1.0) == 7
    # paired / one-sample t-test, alpha 0.05 two-sided, 80 % power: n = 10 at d = 1, 34 at d = 0.5 (G*Power)
    assert seeds_for_power(1.0, 1.0) == 10 and seeds_for_power(2.0, 1.0) == 34
    assert seeds_for_power(0.0, 1.0) == 2


@pytest.fixture
def board(tmp_path):
    """Three seeds of single-task baselines and of two multi-task models: 'good' gains ~+5 Δm every seed, 'noisy'
    swings around 0."""
    root = tmp_path / "results"
    st = [(30.0, 0.70), (31.0, 0.69), (29.0, 0.71)]
    for s, (a, b) in enumerate(st):
        save_record(metric_record(f"st-s{s}", "single_task", s, sem=a), root)
        save_record(metric_record(f"st-d{s}", "single_task", s, dep=b), root)
    for s, (a, b) in enumerate(st):
        save_record(metric_record(f"good-{s}", "mtl", s, a * 1.05, b * 0.95), root)
    for s, (f, g) in enumerate([(1.10, 1.08), (0.90, 0.95), (1.02, 0.98)]):
        save_record(metric_record(f"noisy-{s}", "padnet", s, st[s][0] * f, st[s][1] * g), root)
    return root


def test_rows_whose_interval_excludes_zero_are_marked(board):
    df = build_frame(load_records(board))
    good, noisy = (df[df["Model"] == m].iloc[0] for m in ("mtl", "padnet"))
    assert good[DM_COL] == pytest.approx(5.0) and good["Δm sig"] == 1 and good["Δm paired"]
    assert noisy["Δm sig"] == 0 and noisy[f"{DM_COL} ci95_low"] < 0 < noisy[f"{DM_COL} ci95_high"]
    text = leaderboard(board, fmt="github")
    good_line = next(ln for ln in text.splitlines() if ln.startswith("| mtl"))
    noisy_line = next(ln for ln in text.splitlines() if ln.startswith("| padnet"))
    assert "▲" in good_line and "▲" not in noisy_line and "▼" not in noisy_line
    # good's Δm: paired per seed exactly +5 (std 0), so its interval is [5, 5] and bold (best)
    assert "**+5.00 ± 0.00 ▲**" in good_line


def test_ties_with_the_best_are_bold(board):
    df = build_frame(load_records(board))
    # semseg: noisy's seeds (33.0, 27.9, 29.58) vs good's (31.5, 32.55, 30.45): the paired difference's interval
    # contains 0, so noisy is tied with the best (bold) although its mean is lower; single_task is worse every seed
    rows = {m: df[df["Model"] == m].iloc[0] for m in ("mtl", "padnet", "single_task")}
    assert rows["mtl"][f"{SEM} best"] and rows["padnet"][f"{SEM} best"] and not rows["single_task"][f"{SEM} best"]


def test_power_columns(board):
    df = add_power(build_frame(load_records(board)), 1.0)
    noisy = df[df["Model"] == "padnet"].iloc[0]
    std = noisy[f"{DM_COL} std"]
    assert noisy["Seeds for Δm ±1"] == seeds_for_half_width(std, 1.0)
    assert noisy["Seeds for 80% power at Δm 1"] == seeds_for_power(std, 1.0)
    assert pd.isna(df[df["Model"] == "single_task"].iloc[0]["Seeds for Δm ±1"])
    text = leaderboard(board, fmt="github", power=1.0)
    assert "Seeds for Δm ±1" in text.splitlines()[0]


def test_same_seed_duplicate_changes_neither_n_nor_the_row(board):
    before = build_frame(load_records(board))
    save_record(metric_record("good-0-again", "mtl", 0, 30.0 * 1.05, 0.70 * 0.95), board)  # the same run, reproduced
    after = build_frame(load_records(board))
    a, b = (x[x["Model"] == "mtl"].iloc[0] for x in (before, after))
    assert b["Seeds"] == a["Seeds"] == 3 and b["Repeats"] == 1 and a["Repeats"] == 0
    for col in (SEM, DM_COL, f"{DM_COL} ci95_low", f"{DM_COL} ci95_high", f"{SEM} std"):
        assert b[col] == pytest.approx(a[col])
    line = next(ln for ln in leaderboard(board, fmt="github").splitlines() if ln.startswith("| mtl"))
    assert "| 3 (1 repeated) |" in line


def test_local_runs_are_a_labelled_row_and_stay_off_the_page(board):
    from mtbench.reporting.page import committed_records

    save_record(metric_record("mine", "mtl", 0, 33.0, 0.60), board / LOCAL_DIR)
    df = build_frame(load_records(board))
    mine = df[df["Source"] == "measured (local)"]
    assert len(mine) == 1 and mine.iloc[0]["Record ids"] == "mine" and mine.iloc[0]["Seeds"] == 1
    committed = df[(df["Model"] == "mtl") & (df["Source"] == "measured")].iloc[0]
    assert committed["Seeds"] == 3 and committed["Record ids"] == "good-0 good-1 good-2"
    # paired against the committed seed-0 baselines
    assert mine.iloc[0][DM_COL] == pytest.approx(100 * ((33 - 30) / 30 + (0.70 - 0.60) / 0.70) / 2)
    assert "mine" not in {r.id for r in committed_records(board)}


def test_one_seed_rows_show_the_bootstrap_interval(board):
    from mtbench.reporting.results import Bootstrap

    reps = [31.0, 33.0, 32.0, 34.0, 35.0]
    r = metric_record("boot", "mtinet", 0, 33.0, 0.60)
    r = r.model_copy(update={"bootstrap": {"semseg": Bootstrap(metric="mIoU", n_images=5, seed=0, replicates=reps)}})
    save_record(r, board)
    line = next(ln for ln in leaderboard(board, fmt="github").splitlines() if ln.startswith("| mtinet"))
    lo, hi = np.quantile(reps, [0.025, 0.975])
    assert f"33.00 [{lo:.2f}, {hi:.2f}]" in line and "| 1 (bootstrap) |" in line
