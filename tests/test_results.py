"""RunRecord schema and store: atomic writes, loading, one-line errors naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mtbench.config import RunConfig
from mtbench.errors import RecordError
from mtbench.reporting.results import (
    RunKey,
    RunRecord,
    atomic_write_text,
    iter_record_paths,
    load_record,
    load_records,
    save_record,
    write_record,
)


def make(id="r1", model="mtinet", **kw) -> RunRecord:
    base = dict(
        id=id,
        model=model,
        backbone="hrnet18",
        dataset="synthetic",
        tasks=["semseg", "depth"],
        seed=0,
        metrics={"semseg": {"mIoU": 40.0}, "depth": {"rmse": 0.5}},
    )
    base.update(kw)
    return RunRecord(**base)


def test_save_load_round_trip(tmp_path):
    rec = make(cost={"params": 1234, "gmacs": 1.5, "input_size": [64, 80]})
    path = save_record(rec, tmp_path)
    assert path == tmp_path / "synthetic" / "mtinet" / "r1.json"
    back = load_record(path)
    assert back == rec and back.path == path and back.cost.input_size == (64, 80)
    assert [p.name for p in path.parent.iterdir()] == ["r1.json"]  # no temp file left behind
    assert json.loads(path.read_text())["metrics"]["depth"]["rmse"] == 0.5


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "a" / "x.json"
    atomic_write_text(target, "old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(RecordError, match=r"x\.json: cannot write \(No space left on device\)"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]


def test_malformed_json_is_one_line_naming_file(tmp_path):
    bad = tmp_path / "synthetic" / "mtinet" / "bad.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"id": "x",\n  "model": ')
    with pytest.raises(RecordError) as e:
        load_records(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(bad)) and "malformed JSON" in msg and "line 2" in msg


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"id": "x", "backbone": "b", "dataset": "d", "tasks": ["semseg"]}, "invalid record: model: Field required"),
        (
            {"id": "x", "model": "m", "backbone": "b", "dataset": "d", "tasks": ["semseg"], "source": "reported"},
            "needs a citation",
        ),
        ({"id": "x", "model": "m", "backbone": "b", "dataset": "d", "tasks": []}, "'tasks' is empty"),
        (
            {"id": "x", "model": "m", "backbone": "b", "dataset": "d", "tasks": ["semseg"], "extra": 1},
            "extra: Extra inputs are not permitted",
        ),
        ({"id": "../x", "model": "m", "backbone": "b", "dataset": "d", "tasks": ["semseg"]}, "path separators"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_invalid_record_is_one_line_naming_file(tmp_path, data, needle):
    p = tmp_path / "r.json"
    p.write_text(json.dumps(data))
    with pytest.raises(RecordError) as e:
        load_record(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}: ") and needle in msg


def test_reported_record_with_citation_is_valid():
    rec = make(source="reported", citation="Vandenhende et al., ECCV 2020, Table 2a", seed=None)
    assert rec.citation.startswith("Vandenhende")


def test_load_records_skips_other_files_and_reference(tmp_path):
    save_record(make("a"), tmp_path)
    save_record(make("b", model="padnet"), tmp_path)
    save_record(make("ref"), tmp_path / "reference")
    (tmp_path / "LEADERBOARD.md").write_text("# board\n")
    (tmp_path / "synthetic" / "pareto.png").write_bytes(b"\x89PNG")
    (tmp_path / "synthetic" / "mtinet" / ".a.json.123.tmp").write_text("partial")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.json").write_text("not json")
    assert sorted(r.id for r in load_records(tmp_path)) == ["a", "b"]
    assert [r.id for r in load_records(tmp_path / "reference")] == ["ref"]
    assert sorted(r.id for r in load_records(tmp_path, exclude=())) == ["a", "b", "ref"]
    one = iter_record_paths(tmp_path / "synthetic" / "padnet" / "b.json")
    assert [r.id for r in load_records(one[0])] == ["b"]


def test_missing_folder_and_duplicate_ids(tmp_path):
    with pytest.raises(RecordError, match="nope: results folder does not exist"):
        load_records(tmp_path / "nope")
    save_record(make("same"), tmp_path)
    write_record(make("same", model="padnet"), tmp_path / "copy.json")
    with pytest.raises(RecordError, match="duplicate record id 'same'"):
        load_records(tmp_path)


def test_model_kwargs_robust_to_absence():
    assert make().model_kwargs == {}
    assert make(config={"model": "mtinet"}).model_kwargs == {}
    assert make(config={"model": {"kwargs": {"fpm": False}}}).model_kwargs == {"fpm": False}


def test_record_key_and_its_run_part():
    """One identity: ``key`` tells apart what a hash-less record measured; ``key.run`` is (model, seed, hash)."""
    a = make(config_hash="h1")
    assert a.key.run == RunKey("mtinet", 0, "h1") and a.key == make(id="other", config_hash="h1").key
    for changed in (
        make(config_hash="h2"),
        make(seed=1),
        make(model="padnet"),
        make(split="train"),
        make(aux_tasks=["edge"]),
        make(cost={"input_size": [64, 96]}),
        make(backbone="hrnet48"),
        make(config={"model": {"kwargs": {"fpm": False}}}),
    ):
        assert changed.key != make().key
    assert make(split="train", config_hash="h1").key.run == a.key.run  # the run part ignores the split


def test_run_key_of_config_is_what_a_run_records():
    """``RunKey.of_config`` predicts the key of a record from its config: checked on every committed record."""
    root = Path(__file__).resolve().parents[1] / "results"
    measured = [r for r in load_records(root) if r.source == "measured"]
    assert measured
    for r in measured:
        assert RunKey.of_config(RunConfig.model_validate(r.config)) == r.key.run, r.where
