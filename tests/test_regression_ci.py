"""CI regression benchmark: a short fixed-seed run of a few models must match results/reference/ within
the documented tolerances, a deliberately broken FPM must fail the check, and LEADERBOARD.md must be current."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtbench.config import build_config
from mtbench.engine.run import run_experiment
from mtbench.reporting.page import check_page
from mtbench.reporting.regression import run_check
from mtbench.sweep import PRESETS

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "reference"
PARTS = {"ci": "trained", "ci-init": "init"}


def _run_ci(tmp_path: Path, models: tuple[str, ...], name: str = "ci") -> Path:
    preset = PRESETS[name]
    results = tmp_path / "results"
    for entry in preset.entries:
        if entry.model in models:
            sets = [
                *preset.sets,
                *entry.sets,
                "run.seed=0",
                f"run.results={results}",
                f"run.runs_dir={tmp_path / 'runs'}",
                "run.quiet=true",
                f"model.name={entry.model}",
            ]
            run_experiment(build_config(preset.config, sets))
    return results


def _check(results: Path, models: tuple[str, ...], tmp_path: Path, name: str = "ci"):
    # compare only the references of the models that ran
    src, ref = REFERENCE / PARTS[name], tmp_path / "reference"
    for p in src.rglob("*.json"):
        if p.parent.name in models:
            dst = ref / p.relative_to(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(p.read_bytes())
    (ref / "tolerances.yaml").write_bytes((src / "tolerances.yaml").read_bytes())
    return run_check(ref, results)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ci", "ci-init"])
def test_ci_benchmark_matches_reference(tmp_path, name):
    models = tuple(e.model for e in PRESETS[name].entries)
    result = _check(_run_ci(tmp_path, models, name), models, tmp_path, name)
    assert result.compared == len(models) and not result.problems
    assert result.ok, result.render("text")


@pytest.mark.slow
def test_broken_fpm_fails_the_check(tmp_path, monkeypatch):
    """Drop the FPM's task masks (a plausible refactoring bug): the check must catch it. The trained part
    cannot (8 iterations move metrics less than numerical noise does); the initialisation part does."""
    from mtinet.modules import FeaturePropagation

    def broken(self, feats):
        concat = torch.cat([feats[t] for t in self.tasks], dim=1)
        shared = self.reduce(concat)  # masks never applied
        return {t: self.se[t](shared) + feats[t] for t in self.tasks}

    monkeypatch.setattr(FeaturePropagation, "forward", broken)
    result = _check(_run_ci(tmp_path, ("mtinet",), "ci-init"), ("mtinet",), tmp_path, "ci-init")
    assert result.compared == 1 and not result.ok, "a broken FPM went unnoticed"
    assert any(d.status == "REGRESSED" for d in result.failures)


def test_leaderboard_page_is_current():
    check_page(ROOT / "results", ROOT / "results" / "LEADERBOARD.md")


def test_committed_site_is_current():
    """results/site/ is what 'mtbench leaderboard --site results/site' makes of the committed records and grids."""
    from mtbench.reporting.site import check_site

    check_site(ROOT / "results", ROOT / "results" / "site")
