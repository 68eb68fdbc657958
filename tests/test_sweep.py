"""`mtbench sweep`: runs a preset's models x seeds in subprocesses, reports each, and skips finished runs."""

from __future__ import annotations

import pytest

from mtbench import sweep
from mtbench.errors import MtbenchError
from mtbench.reporting.results import load_records

_TINY = (
    "data.n_train=4",
    "data.n_val=4",
    "data.train_size=[64,96]",
    "train.epochs=1",
    "train.batch_size=2",
    "train.max_iters=0",
    "eval.batch_size=4",
    "run.profile=false",
)


@pytest.fixture
def tiny_preset(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # sweep logs go to ./runs/sweep-logs
    preset = sweep.Preset("tiny", (sweep.Entry("mtl"),), sets=_TINY, seeds=(0, 1))
    monkeypatch.setitem(sweep.PRESETS, "tiny", preset)
    return tmp_path


def test_sweep_runs_reports_and_skips_finished(tiny_preset):
    results = tiny_preset / "results"
    extra = [f"run.runs_dir={tiny_preset / 'runs'}"]
    lines: list[str] = []
    todo = sweep.run_sweep("tiny", results=results, jobs=2, extra_sets=extra, on_done=lines.append)
    assert len(todo) == 2
    records = load_records(results)
    assert sorted(r.seed for r in records) == [0, 1] and {r.model for r in records} == {"mtl"}
    assert sorted(line.split("]")[0] for line in lines) == ["[1/2", "[2/2"]
    assert all(
        line.startswith("[") and "] mtbench run --model mtl" in line and line.endswith(" s, done") for line in lines
    )
    # everything recorded: nothing left to run, and a dry run lists nothing
    assert sweep.run_sweep("tiny", results=results, jobs=2, extra_sets=extra) == []
    # a new seed is planned alone
    todo = sweep.run_sweep("tiny", seeds=[0, 1, 2], results=results, extra_sets=extra, dry_run=True)
    assert len(todo) == 1 and "run.seed=2" in todo[0]


def test_sweep_failure_names_the_log(tiny_preset, caplog):
    with pytest.raises(MtbenchError, match=r"1 of 1 runs failed; logs in runs/sweep-logs"):
        sweep.run_sweep(
            "tiny", seeds=[0], results=tiny_preset / "results", extra_sets=["data.root=/nonexistent-mtbench-data"]
        )
    assert "exit" in caplog.text and "tiny-000.log" in caplog.text


def test_floor_record_is_not_a_finished_run(tmp_path):
    """Sweep skips by the record's run key (model, seed, config hash): a constant-predictor floor record, even one
    carrying a planned run's hash, skips nothing, while a record of that run does."""
    from mtbench.reporting.results import RunRecord, save_record

    results = tmp_path / "results"
    before = sweep.plan("default", [0], results, [])
    preset = sweep.PRESETS["default"]
    key = sweep.record_keys(preset, preset.entries[3], 0, results, [])[0]
    assert key.model == "mtinet" and len(before) == len(preset.entries)
    common = dict(
        backbone="hrnet18", dataset="synthetic", tasks=["semseg", "depth"], seed=0, config_hash=key.config_hash
    )
    save_record(RunRecord(id="floor", model="constant", **common), results)
    assert sweep.plan("default", [0], results, []) == before
    save_record(RunRecord(id="done", model="mtinet", **common), results)
    assert len(sweep.plan("default", [0], results, [])) == len(before) - 1


def test_budget_presets_differ_from_the_default_only_in_the_training_scenes(tmp_path):
    from mtbench.config import build_config

    p = sweep.get_preset("budget-3072")
    assert p.sets == ("data.n_train=24576", "eval.every_iters=384", "eval.curve_images=100") and p.seeds == (0, 1, 2)
    assert [e.model for e in p.entries] == ["single_task", "mtl", "padnet", "mtinet"]
    base = build_config(None, [])
    cfg = build_config(None, list(p.sets))
    assert cfg.data.n_train == 24576 and cfg.data.n_val == base.data.n_val == 500 and cfg.data.seed == 0
    assert cfg.train.warmup_iters == base.train.warmup_iters and cfg.train.epochs == 1
    # the learning curve (8 points on 100 val scenes) is not part of the experiment: same hash as without it
    assert cfg.hash() == build_config(None, ["data.n_train=24576"]).hash()
    default = build_config(None, list(sweep.get_preset("default").sets))
    assert default.eval.every_iters == 48 and default.hash() == base.hash()
    gpu = sweep.get_preset("gpu")
    # device and workers are not hashed: a GPU run of a budget is the same experiment as a CPU one
    keys = sweep.record_keys(gpu, gpu.entries[1], 0, tmp_path, [])
    assert keys == sweep.record_keys(sweep.get_preset("budget-6144"), gpu.entries[1], 0, tmp_path, [])
    with pytest.raises(MtbenchError, match="budget-x"):
        sweep.get_preset("budget-x")


def test_plan_resumes_killed_runs_and_runs_only_missing_single_task_tasks(tiny_preset):
    """A run killed with its session left a checkpoint: the sweep resumes it instead of starting over; a
    single_task entry with one task recorded runs the other task only, with the split run's config hash."""
    from mtbench.config import build_config, dump_yaml
    from mtbench.engine.run import split_single_task
    from mtbench.reporting.results import RunKey, RunRecord, save_record

    results, runs = tiny_preset / "results", tiny_preset / "runs"
    extra = [f"run.runs_dir={runs}"]
    p = sweep.Preset("st", (sweep.Entry("single_task"), sweep.Entry("mtl")), sets=_TINY, seeds=(0,))
    sets = sweep.entry_sets(p, p.entries[1], 0, results, extra)
    assert "train.checkpoint_every_iters=50" in sets  # not in the hash: a sweep's runs checkpoint as they go
    mtl = build_config(None, [*sets, "model.name=mtl"])
    assert build_config(None, [*sets, "model.name=mtl", "train.checkpoint_every_iters=7"]).hash() == mtl.hash()
    assert build_config(None, [*sets, "model.name=mtl", "train.checkpoint_every_iters=0"]).hash() == mtl.hash()
    killed = runs / "mtl-killed"
    killed.mkdir(parents=True)
    (killed / "config.yaml").write_text(dump_yaml(mtl))
    (killed / "checkpoint.pt").write_bytes(b"")
    st = split_single_task(
        build_config(None, [*sweep.entry_sets(p, p.entries[0], 0, results, extra), "model.name=single_task"])
    )
    semseg = st[0]
    save_record(
        RunRecord(
            id="st-semseg",
            model="single_task",
            backbone="hrnet18",
            dataset="synthetic",
            tasks=["semseg"],
            seed=0,
            config=semseg.model_dump(mode="json"),
            config_hash=semseg.hash(),
        ),
        results,
    )
    todo = sweep.plan(p, None, results, extra)
    assert todo[1] == ["run", "--resume", str(killed)]
    depth_args = todo[0]
    assert depth_args[:3] == ["run", "--model", "single_task"] and "data.tasks=[depth]" in depth_args
    sets_depth = [depth_args[i + 1] for i, a in enumerate(depth_args) if a == "--set"]
    cfg = build_config(None, [*sets_depth, "model.name=single_task"])
    assert RunKey.of_config(cfg) == RunKey.of_config(st[1])  # the same experiment as the split depth run
    (killed / "record.json").write_text("{}")  # finished: not resumable any more
    assert sweep.plan(p, None, results, extra)[1][:3] == ["run", "--model", "mtl"]
