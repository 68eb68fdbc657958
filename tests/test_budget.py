"""The budget study: iterations from stored configs, Δm paired within each budget, the plot and the verdicts."""

from __future__ import annotations

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
