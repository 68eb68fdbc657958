"""The budget study: iterations from stored configs, Δm paired within each budget, the plot and the verdicts."""

from __future__ import annotations

import pandas as pd
import pytest
from _records import metric_record

from mtbench.reporting.budget import budget_frame, budget_section, training_iterations
from mtbench.reporting.leaderboard import CI_LOW, DM_COL
from mtbench.reporting.results import BUDGET_DIR, RunRecord, load_records, save_record


def _cfg(n_train: int, tasks: list[str]) -> dict:
    return {
        "data": {"dataset": "synthetic", "n_train": n_train, "n_val": 500, "seed": 0, "tasks": tasks},
        "train": {"epochs": 1, "batch_size": 8, "max_iters": None},
        "eval": {"split": "val", "options": {}},
    }


def _rec(id: str, model: str, seed: int, n_train: int, sem=None, dep=None) -> RunRecord:
    tasks = [t for t, v in (("semseg", sem), ("depth", dep)) if v is not None]
    return metric_record(id, model, seed, sem, dep, dataset="synthetic", config=_cfg(n_train, tasks), cost=_SIZE)


_SIZE = {"input_size": [96, 128]}


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "results"
    # budget 384 (3072 scenes, the committed benchmark): mtl worse every seed; budget 768 under budget/: better
    for s, (a, b) in enumerate([(20.0, 1.30), (21.0, 1.32), (19.0, 1.31)]):
        save_record(_rec(f"st-s-384-{s}", "single_task", s, 3072, sem=a), root)
        save_record(_rec(f"st-d-384-{s}", "single_task", s, 3072, dep=b), root)
        save_record(_rec(f"mtl-384-{s}", "mtl", s, 3072, a * 0.9, b * 1.1), root)
        save_record(_rec(f"st-s-768-{s}", "single_task", s, 6144, sem=a + 5), root / BUDGET_DIR)
        save_record(_rec(f"st-d-768-{s}", "single_task", s, 6144, dep=b - 0.1), root / BUDGET_DIR)
        save_record(_rec(f"mtl-768-{s}", "mtl", s, 6144, (a + 5) * 1.04, (b - 0.1) * 0.96), root / BUDGET_DIR)
    return root


def test_training_iterations_from_the_config():
    assert training_iterations(_rec("a", "mtl", 0, 3072, 1.0)) == 384
    r = _rec("b", "mtl", 0, 3072, 1.0)
    r.config["train"]["max_iters"] = 10
    assert training_iterations(r) == 10
    assert training_iterations(RunRecord(id="c", model="mtl", backbone="x", dataset="nyud", tasks=["semseg"])) is None


def test_each_budget_is_paired_with_its_own_baselines(study):
    frame = budget_frame(load_records(study), "synthetic")
    assert list(frame["Model"]) == ["mtl", "mtl"] and list(frame["Iterations"]) == [384, 768]
    # every seed: 384: ((0.9 - 1) - (1.1 - 1)) / 2 = -10 %; 768: (0.04 + 0.04) / 2 = +4 %, exactly (std 0)
    assert list(frame[DM_COL]) == pytest.approx([-10.0, 4.0])
    assert list(frame[CI_LOW]) == pytest.approx([-10.0, 4.0]) and list(frame["Seeds"]) == [3, 3]
    assert all(frame["Paired"])


def test_section_states_the_verdict_and_writes_the_plot(study, tmp_path):
    out = tmp_path / "page" / "LEADERBOARD.md"
    text = budget_section(load_records(study), "synthetic", out, plots=True)
    assert "**mtl** beats single-task (95 %) at 768 iterations" in text
    assert "384 it: -10.00 [-10.00, -10.00] (n=3), worse than single-task" in text
    png = out.parent / "budget_synthetic.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "![Δm against the training budget" in text
    # one budget only: no section
    one = [r for r in load_records(study) if not r.origin]
    assert budget_section(one, "synthetic", out, plots=False) == ""


def test_table_rows_of_one_model_on_two_budgets_are_labelled_by_the_difference(study):
    from mtbench.reporting.leaderboard import build_frame

    recs = load_records(study)
    for r in recs:  # move the 384-iteration records beside the others (same origin): only the config tells them apart
        r._origin = BUDGET_DIR
    models = set(build_frame(recs)["Model"])
    assert {"mtl [data.n_train=3072]", "mtl [data.n_train=6144]"} <= models


def _timed(rec: RunRecord, seconds: float, boot: dict | None = None) -> RunRecord:
    rec.timings = {"total": seconds}
    if boot:
        rec.bootstrap = boot
    return rec


@pytest.fixture
def spread(tmp_path):
    """Two budgets whose mtl Δm varies over seeds by a known amount: mtl's semseg = baseline × (1 + g), its depth
    = the baseline's, so Δm = 100 g / 2. 384 it: Δm 0, 4, 8 (std 4); 768 it: 2, 3, 4 (std 1). Wall seconds per
    seed: 384: 100 per single-task network + 200 mtl; 768: twice that."""
    from mtbench.reporting.results import Bootstrap

    root = tmp_path / "results"
    for s in range(3):
        for n, g, sec, where in ((3072, 0.08 * s, 100.0, root), (6144, 0.04 + 0.02 * s, 200.0, root / BUDGET_DIR)):
            sem, dep = 20.0 + s, 1.3
            # replicates: the baselines' fixed, mtl's semseg = its value - 2, + 0, + 2 mIoU
            reps = [sem * (1 + g) + d for d in (-2.0, 0.0, 2.0)]
            st_boot = {"semseg": Bootstrap(metric="mIoU", n_images=10, seed=0, replicates=[sem] * 3)}
            dep_boot = {"depth": Bootstrap(metric="rmse", n_images=10, seed=0, replicates=[dep] * 3)}
            mtl_boot = {
                "semseg": Bootstrap(metric="mIoU", n_images=10, seed=0, replicates=reps),
                "depth": Bootstrap(metric="rmse", n_images=10, seed=0, replicates=[dep] * 3),
            }
            save_record(_timed(_rec(f"st-s-{n}-{s}", "single_task", s, n, sem=sem), sec, st_boot), where)
            save_record(_timed(_rec(f"st-d-{n}-{s}", "single_task", s, n, dep=dep), sec, dep_boot), where)
            save_record(_timed(_rec(f"mtl-{n}-{s}", "mtl", s, n, sem * (1 + g), dep), 2 * sec, mtl_boot), where)
    return root


def test_choice_frame_measures_spread_seeds_and_cost(spread):
    from mtbench.reporting.budget import choice_frame

    f = choice_frame(load_records(spread), "synthetic")
    mtl = f[f["Model"] == "mtl"].set_index("Iterations")
    assert list(mtl["Δm std"]) == pytest.approx([4.0, 1.0])
    # smallest n with t_{0.975, n-1} · std / √n <= 2: std 4 → n = 18 (t_17 = 2.110, 2.110·4/√18 = 1.989; n = 17:
    # 2.120·4/√17 = 2.057); std 1 → n = 4 (3.182/2 = 1.591; n = 3: 4.303/√3 = 2.484)
    assert list(mtl["Seeds for goal"]) == [18, 4]
    # one run's Δm over its image replicates: semseg ± 2 mIoU around mtl's value against a fixed baseline value,
    # Δm_b = 50 (m_b - S) / S; its sample std = 50 · 2 / S, averaged over the 3 seeds (S = 20, 21, 22)
    expect = sum(50 * 2 / s for s in (20.0, 21.0, 22.0)) / 3
    assert list(mtl["Image std"]) == pytest.approx([expect, expect], rel=1e-4)
    st = f[f["Model"] == "single_task"].set_index("Iterations")
    assert list(st["Hours per seed"]) == pytest.approx([200 / 3600, 400 / 3600])
    assert list(mtl["Hours per seed"]) == pytest.approx([200 / 3600, 400 / 3600])


def test_the_cheapest_budget_for_the_goal_is_chosen_and_shown(spread, tmp_path):
    from mtbench.reporting.budget import budget_costs, choice_frame, chosen_budget
    from mtbench.reporting.page import render_page

    recs = load_records(spread)
    costs = budget_costs(choice_frame(recs, "synthetic")).set_index("Iterations")
    # 384: 18 seeds × 400 s = 2 h; 768: 4 seeds × 800 s = 0.89 h
    assert list(costs["Seeds for goal"]) == [18, 4]
    assert list(costs["Hours at goal"]) == pytest.approx([2.0, 3200 / 3600])
    assert chosen_budget(recs, "synthetic")["Iterations"] == 768
    text = budget_section(recs, "synthetic", tmp_path / "LEADERBOARD.md", plots=False)
    assert "**768 iterations × 4 seeds, ≈ 0.9 h**" in text
    # std from 3 seeds: √(2 / χ²₂(0.975)) = 0.52, √(2 / χ²₂(0.025)) = 6.28
    assert "from 3 seeds the 95 % interval of a std spans 0.52× to 6.3× the value measured" in text
    assert "| 384 | mtl | 3 | 4.00 |" in text and "| 768 | 3 | 4 | 0.2 | 0.9 |" in text
    page = render_page(spread, tmp_path / "LEADERBOARD.md")
    assert "#### The chosen benchmark: 768 iterations" in page
    assert "--preset budget-768 --seeds 0,1,2,3 --results" in page
    assert "**Goal not reached yet**: Δm 95 % half-width above 2 points for mtl ± 2.48 over 3 seeds." in page
    # the chosen budget is the committed benchmark's: no second table
    for r in recs:
        r._origin = ""
    from mtbench.reporting.page import chosen_table

    assert chosen_table([r for r in recs if "768" in r.id or "6144" in r.id], "synthetic") == []


def test_the_chosen_benchmark_says_when_its_goal_is_reached(spread, tmp_path):
    from mtbench.reporting.page import chosen_benchmark

    # a 4th seed at 768 with Δm 3: Δm 2, 3, 4, 3, std √(2/3) = 0.816, half-width t_3 · 0.816 / 2 = 3.182 · 0.408
    sem, dep = 23.0, 1.3
    for rec in (
        _rec("st-s-6144-3", "single_task", 3, 6144, sem=sem),
        _rec("st-d-6144-3", "single_task", 3, 6144, dep=dep),
        _rec("mtl-6144-3", "mtl", 3, 6144, sem * 1.06, dep),
    ):
        save_record(_timed(rec, 200.0), spread / BUDGET_DIR)
    chosen = chosen_benchmark(load_records(spread), "synthetic")
    assert chosen is not None and chosen.budget == 768
    assert chosen.goal_sentence() == (
        "**Goal reached**: every row's Δm 95 % half-width is ≤ 2 points (the widest: mtl, ± 1.30 over 4 seeds)."
    )
    assert "Its records so far (seeds 0, 1, 2, 3)" in chosen.intro


def test_the_site_shows_the_study_the_choice_and_the_chosen_table(spread, tmp_path):
    from mtbench.reporting.site import write_site

    site = tmp_path / "site"
    write_site(spread, site)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert (site / "img" / "budget_synthetic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<img src="img/budget_synthetic.png"' in index
    # the verdicts, bold kept as HTML
    # 384: mean 4, std 4, n 3: 4 ± 4.303 · 4 / √3 = 4 ± 9.94; 768: 3 ± 4.303 / √3 = 3 ± 2.48
    assert "<li><b>mtl</b> beats single-task (95 %) at 768 iterations (384 it: +4.00 [-5.94, +13.94] (n=3)" in index
    # the per-model table and the cost table, cell by cell
    assert "<tr><td>384</td><td>mtl</td><td>3</td><td>4.00</td>" in index
    assert "<tr><td>768</td><td>3</td><td>4</td><td>0.2</td><td>0.9</td></tr>" in index
    assert "<b>768 iterations × 4 seeds, ≈ 0.9 h</b>" in index
    # the chosen benchmark's table: the 768-iteration rows, sortable like the others
    assert "<h4>The chosen benchmark: 768 iterations</h4>" in index
    chosen = index.split('id="board-synthetic-chosen"', 1)[1].split("</table>", 1)[0]
    assert chosen.count("<tr data-i=") == 2 and "+3.00 ± 2.48 ▲" in chosen
    assert "<code>mtbench sweep --preset budget-768 --seeds 0,1,2,3 --results results/budget</code>" in index


def test_a_budget_without_a_spread_yet_is_not_compared(spread):
    """A third budget with two seeds of mtl (too few) and a fourth with baselines only: neither is compared, and
    the models compared stay those with a spread elsewhere; 768 is still the cheapest."""
    from mtbench.reporting.budget import budget_costs, choice_frame, chosen_budget

    save_record(_timed(_rec("st-s-1536-0", "single_task", 0, 12288, sem=30.0), 400.0), spread / BUDGET_DIR)
    save_record(_timed(_rec("st-d-1536-0", "single_task", 0, 12288, dep=1.0), 400.0), spread / BUDGET_DIR)
    save_record(_timed(_rec("mtl-1536-0", "mtl", 0, 12288, 31.0, 1.0), 800.0), spread / BUDGET_DIR)
    # a second seed there: a spread from 2 seeds (one degree of freedom) is not compared either
    save_record(_timed(_rec("st-s-1536-1", "single_task", 1, 12288, sem=31.0), 400.0), spread / BUDGET_DIR)
    save_record(_timed(_rec("st-d-1536-1", "single_task", 1, 12288, dep=1.1), 400.0), spread / BUDGET_DIR)
    save_record(_timed(_rec("mtl-1536-1", "mtl", 1, 12288, 33.0, 1.0), 800.0), spread / BUDGET_DIR)
    save_record(_timed(_rec("st-s-96-0", "single_task", 0, 768, sem=10.0), 50.0), spread / BUDGET_DIR)
    recs = load_records(spread)
    costs = budget_costs(choice_frame(recs, "synthetic")).set_index("Iterations")
    assert list(costs.index) == [96, 384, 768, 1536]
    assert set(costs["Models"]) == {"mtl, single_task"}
    assert all(pd.isna(costs.loc[b, "Seeds for goal"]) for b in (96, 1536))
    assert [costs.loc[b, "Hours at goal"] for b in (384, 768)] == pytest.approx([2.0, 3200 / 3600])
    assert all(pd.isna(costs.loc[b, "Hours at goal"]) for b in (96, 1536))
    assert chosen_budget(recs, "synthetic")["Iterations"] == 768


def test_one_seed_budgets_are_labelled_and_carry_no_claim():
    """A budget with one seed has only the image bootstrap's interval: it is labelled so, and neither a "beats"
    claim nor a "does not beat at any budget measured" rests on it."""
    from mtbench.reporting.budget import verdicts
    from mtbench.reporting.leaderboard import CI_HIGH

    frame = pd.DataFrame(
        {
            "Model": ["a", "a", "b", "b", "c"],
            "Iterations": [192, 384, 192, 384, 192],
            DM_COL: [5.0, 1.0, -4.0, 3.0, 2.0],
            CI_LOW: [4.0, -1.0, -5.0, 1.0, 1.0],
            CI_HIGH: [6.0, 3.0, -3.0, 5.0, 3.0],
            "Seeds": [1, 3, 1, 3, 1],
        }
    )
    a, b, c = verdicts(frame)
    assert a == (
        "**a** does not beat single-task (95 %) at any budget with 2 seeds or more (192 it: +5.00 [+4.00, +6.00] "
        "(n=1: over images only, not seeds), better than single-task; 384 it: +1.00 [-1.00, +3.00] (n=3), "
        "not resolved from 0)."
    )
    assert b.startswith("**b** beats single-task (95 %) at 384 iterations (192 it: -4.00 [-5.00, -3.00] (n=1: over")
    assert c.startswith("**c** cannot be judged yet (one seed per budget) (192 it: +2.00 [+1.00, +3.00] (n=1: over")
