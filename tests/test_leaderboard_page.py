"""results/LEADERBOARD.md is a function of results/ only: rows described from their stored configs (distinct ones
listed), the constant-predictor floor quoted from its record, and the reporting package imports no engine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtbench.config import RunConfig
from mtbench.reporting.page import benchmarks, committed_records, render_page
from mtbench.reporting.results import load_records, write_record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
PAGE = (RESULTS / "LEADERBOARD.md").read_text(encoding="utf-8")
FLOOR = (
    " For scale, a constant predictor (the training split's majority class / mean depth everywhere, "
    "`python scripts/constant_baseline.py`) scores semseg mIoU 4.176 %, depth rmse 1.559 m on the val split."
)
NO_FLOOR = (
    " No constant-predictor floor is recorded for the data of these rows "
    "(`python scripts/constant_baseline.py` writes one, a record with model `constant`)."
)


@pytest.fixture
def results(tmp_path) -> Path:
    """A copy of the committed results/ (records only)."""
    out = tmp_path / "results"
    shutil.copytree(RESULTS, out, ignore=shutil.ignore_patterns("*.md", "*.png", "reference"))
    return out


def _edit(path: Path, change) -> None:
    rec = load_records(path)[0]
    cfg = json.loads(json.dumps(rec.config))
    change(cfg)
    write_record(rec.model_copy(update={"config": cfg}), path)


def test_page_renders_from_records_alone(monkeypatch):
    """Another default config and no way to compute a floor: the page of the committed records is unchanged."""
    import mtbench.config
    import mtbench.constant

    def refuse(*args, **kwargs):
        raise AssertionError("the page must not compute anything")

    monkeypatch.setattr(mtbench.config, "DEFAULT_CONFIG", "nyud_hrnet18_480x640_100ep")
    monkeypatch.setattr(mtbench.constant, "constant_scores", refuse)
    monkeypatch.setattr(mtbench.config, "build_config", refuse)
    assert FLOOR in PAGE and render_page(RESULTS, RESULTS / "LEADERBOARD.md") == PAGE


def test_committed_floor_record():
    """The floor is a stored record with its own config, computed on the data of the committed rows."""
    floors = [r for r in committed_records(RESULTS) if r.is_floor]
    assert [(r.dataset, r.seed, r.tasks) for r in floors] == [("synthetic", 0, ["semseg", "depth"])]
    cfg = RunConfig.model_validate(floors[0].config)
    assert cfg.hash() == floors[0].config_hash and cfg.model.name == "constant"
    rows = [r for r in committed_records(RESULTS) if r.dataset == "synthetic" and not r.is_floor]
    assert {(r.config["data"]["n_train"], r.config["data"]["n_val"], r.config["data"]["seed"]) for r in rows} == {
        (3072, 500, 0)
    }
    assert (cfg.data.n_train, cfg.data.n_val, cfg.data.seed, tuple(cfg.data.train_size)) == (3072, 500, 0, (96, 128))


def test_missing_floor_is_said_plainly(results):
    shutil.rmtree(results / "synthetic" / "constant")
    assert render_page(results) == PAGE.replace(FLOOR, NO_FLOOR)


def test_floor_of_other_data_is_not_quoted(results):
    [floor] = (results / "synthetic" / "constant").iterdir()
    _edit(floor, lambda cfg: cfg["data"].update(n_val=50))
    assert render_page(results) == PAGE.replace(FLOOR, NO_FLOOR)
    _edit(floor, lambda cfg: cfg["data"].update(n_val=500, tasks=["semseg"], root="/elsewhere"))  # not data
    assert render_page(results) == PAGE


def test_distinct_configs_are_listed(results):
    """Records of one dataset with different configs (apart from model, seed and options): each listed, with what
    differs; paths, device and verbosity do not count; the table below is unchanged."""
    for p in (results / "synthetic" / "mtl").iterdir():
        _edit(p, lambda cfg: cfg["train"].update(lr=0.0002))
    for p in (results / "synthetic" / "single_task").iterdir():
        _edit(p, lambda cfg: cfg["run"].update(results="/other/machine", device="cpu", quiet=False))
    text = render_page(results)
    intro = text.split("## synthetic\n\n")[1].split("\n")[0]
    desc = (
        "synthetic scenes at 96×128, hrnet18 from scratch trained on 3072 fresh scenes seen once (batch 8, adam "
        "lr {}, poly(0.9), 40-iteration warm-up), 500 val scenes (fixed: data seed 0), semseg + depth main, "
        "normals + edge auxiliary for the models that take auxiliary tasks"
    )
    # the page's benchmark records only: not the budget study's (budget/) nor a user's own runs (local/)
    seeds = ", ".join(
        map(str, sorted({r.seed for r in load_records(results) if not (r.is_floor or r.origin) and r.seed is not None}))
    )
    models = sorted({r.model for r in load_records(results / "synthetic") if not r.is_floor} - {"mtl"})
    # the configurations are numbered in the order their first record is read (folder names)
    first = [f"{', '.join(models)}: {desc.format('0.001')}", f"mtl: {desc.format('0.0002')}"]
    lrs = ["0.001", "0.0002"]
    if "mtinet" not in models:  # results/synthetic/mtl comes first when no mtinet record precedes it
        first, lrs = first[::-1], lrs[::-1]
    assert intro == (
        f"Measured rows: their records hold 2 different configurations. (1) {first[0]}. (2) {first[1]}. "
        f"They differ in `train.lr` {lrs[0]} (1), {lrs[1]} (2). "
        f"Seed{'s' if ',' in seeds else ''} {seeds} (the Seeds column counts each row's), on CPU, timings on a shared "
        "machine. "
        "Reproduce with `make leaderboard` (= `mtbench sweep --preset default` then "
        f"`mtbench leaderboard`).{FLOOR}"
    )
    assert text.split("\n| Model")[1:] == PAGE.split("\n| Model")[1:]


def test_single_task_records_join_the_config_they_were_split_from():
    rows = [
        r for r in committed_records(RESULTS) if r.dataset == "synthetic" and r.source == "measured" and not r.is_floor
    ]
    [bench] = benchmarks(rows)
    present = [m for m in ("mtl", "padnet", "mtinet") if any(r.model == m for r in rows)]
    assert sorted(bench.models) == sorted([*present, "single_task"]) and len(bench.records) == len(rows)
    assert bench.config["data"]["tasks"] == ["semseg", "depth"] and "seed" not in bench.config["run"]
    alone = benchmarks([r for r in rows if r.model == "single_task"])
    assert len(alone) == 1 and sorted(alone[0].config["data"]["tasks"]) == ["depth", "semseg"]
    assert alone[0].config["data"]["aux_tasks"] == []


def test_reporting_imports_neither_engine_nor_models():
    mods = ["results", "delta_m", "leaderboard", "page", "plots", "report", "regression", "show", "site"]
    code = (
        "import sys\n"
        + "".join(f"import mtbench.reporting.{m}\n" for m in mods)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('baselines', 'mtinet')"
        " or m.startswith(('mtbench.engine', 'mtbench.constant', 'mtbench.sweep', 'mtbench.reproduce'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
