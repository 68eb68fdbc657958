"""`mtbench check`: matching, tolerances with directions, unmatched records, exit codes, formats."""

from __future__ import annotations

import pytest

from mtbench.cli import main
from mtbench.errors import RecordError, UsageError
from mtbench.reporting.regression import compare, parse_overrides, run_check
from mtbench.reporting.results import RunRecord, save_record


def rec(id="r", sem=40.0, rmse=0.5, seed=0, **kw) -> RunRecord:
    metrics = {"semseg": {"mIoU": sem, "mIoU_nonempty": sem + 2}, "depth": {"rmse": rmse, "delta1": 80.0}}
    return RunRecord(
        id=id,
        model=kw.pop("model", "mtinet"),
        backbone="hrnet18",
        dataset="synthetic",
        tasks=["semseg", "depth"],
        seed=seed,
        metrics=metrics,
        cost={"input_size": [128, 160]},
        **kw,
    )


@pytest.fixture
def dirs(tmp_path):
    ref, res = tmp_path / "results" / "reference", tmp_path / "results"
    for seed in (0, 1):
        save_record(rec(f"ref{seed}", seed=seed), ref)
    return ref, res


def _run(capsys, *args):
    try:
        main(["check", *args])
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_identical_records_pass(dirs, capsys):
    ref, res = dirs
    for seed in (0, 1):
        save_record(rec(f"new{seed}", seed=seed), res)
    code, out, _ = _run(capsys, "--reference", str(ref), "--results", str(res))
    assert code == 0 and out.startswith("OK: 2 record(s), 8 metric(s) compared")


def test_changed_config_hash_needs_a_new_reference(dirs, capsys):
    """The config hash (paths and device excluded) is part of the key: a changed recipe has no reference."""
    ref, res = dirs
    for seed in (0, 1):
        save_record(rec(f"new{seed}", seed=seed, config_hash=f"changed-{seed}"), res)
    code, out, _ = _run(capsys, "--reference", str(ref), "--results", str(res))
    assert code == 1 and "no reference for measured record" in out
    assert "REGRESSED" not in out


def test_regressed_record_exits_1(dirs, capsys):
    ref, res = dirs
    save_record(rec("new0", seed=0, sem=38.0), res)  # mIoU -5% (tol 2% of 40 = 0.8)
    save_record(rec("new1", seed=1, rmse=0.505), res)  # rmse +1%: within tolerance
    code, out, _ = _run(capsys, "--reference", str(ref), "--results", str(res))
    assert code == 1
    bad = [ln for ln in out.splitlines() if "REGRESSED" in ln]
    assert len(bad) == 2 and all("seed 0" in ln for ln in bad)  # mIoU and mIoU_nonempty of seed 0
    assert "-2" in bad[0] and "-5.00%" in bad[0] and "0.8" in bad[0]
    assert out.rstrip().splitlines()[-1].startswith("FAIL: 2 record(s), 8 metric(s)")
    # a wide enough tolerance lets it pass
    assert _run(capsys, "--reference", str(ref), "--results", str(res), "--abs-tol", "2.5")[0] == 0
    assert _run(capsys, "--reference", str(ref), "--results", str(res), "--rel-tol", "0.06")[0] == 0


def test_directions_and_improvements():
    ref = rec(sem=40.0, rmse=0.5)
    better = compare(rec(sem=42.0, rmse=0.45), ref, 0.02, 0.0)
    assert {(d.task, d.metric): d.status for d in better} == {
        ("semseg", "mIoU"): "improved",
        ("semseg", "mIoU_nonempty"): "improved",
        ("depth", "rmse"): "improved",
        ("depth", "delta1"): "ok",
    }
    worse = {(d.task, d.metric): d for d in compare(rec(rmse=0.52), ref, 0.02, 0.0)}
    assert worse[("depth", "rmse")].status == "REGRESSED"  # lower is better: +4% > 2%
    assert worse[("depth", "rmse")].tolerance == pytest.approx(0.01)
    assert worse[("depth", "rmse")].delta == pytest.approx(0.02)
    custom = rec(rmse=0.5).model_copy(
        update={"metrics": {"semseg": {"mIoU": 40.0, "mystery": 1.0}, "depth": {"rmse": 0.5}}}
    )
    ref2 = ref.model_copy(
        update={"metrics": {"semseg": {"mIoU": 40.0, "mystery": 2.0}, "depth": {"rmse": 0.5, "delta1": 80.0}}}
    )
    got = {(d.task, d.metric): d.status for d in compare(custom, ref2, 0.02, 0.0)}
    assert got[("semseg", "mystery")] == "CHANGED" and got[("depth", "delta1")] == "MISSING"


def test_direction_lookup():
    from mtbench.reporting.regression import metric_direction

    assert metric_direction("depth", "rmse") is False and metric_direction("depth", "delta1") is True
    assert metric_direction("semseg", "IoU_17") is True  # per-class IoU beyond the 2 classes built
    assert metric_direction("semseg", "unknown") is None and metric_direction("nosuchtask", "x") is None


def test_per_metric_override():
    assert parse_overrides(["semseg.mIoU=2.5"]) == {"semseg.mIoU": 2.5}
    with pytest.raises(UsageError, match="Bad --tol 'mIoU'"):
        parse_overrides(["mIoU"])
    diffs = {d.metric: d.status for d in compare(rec(sem=38.0), rec(), 0.02, 0.0, {"semseg.mIoU": 2.5})}
    assert diffs["mIoU"] == "ok" and diffs["mIoU_nonempty"] == "REGRESSED"


def test_missing_reference_and_missing_measured(dirs, capsys):
    ref, res = dirs
    save_record(rec("new0", seed=0), res)
    extra = save_record(rec("new7", seed=7), res)
    code, out, _ = _run(capsys, "--reference", str(ref), "--results", str(res))
    assert code == 1
    assert f"no reference for measured record {extra} (mtinet hrnet18 synthetic/val semseg+depth 128x160 seed 7)" in out
    assert f"no measured record for reference {ref / 'synthetic' / 'mtinet' / 'ref1.json'}" in out


def test_key_includes_model_options_and_single_file_reference(dirs, capsys):
    ref, res = dirs
    a = rec("x", config={"model": {"kwargs": {"fpm": False}}})
    assert a.key != rec("y").key and rec("y", config_hash="h").key != rec("z").key
    save_record(rec("new0", seed=0, sem=30.0), res)
    one = ref / "synthetic" / "mtinet" / "ref0.json"
    code, out, _ = _run(capsys, "--reference", str(one), "--results", str(res), "--format", "github")
    assert code == 1 and out.startswith("### mtbench check: FAIL")
    assert "| Record" in out and "**REGRESSED**" in out
    table = [ln for ln in out.splitlines() if ln.startswith("| mtinet")]
    assert len(table) == 2  # github shows changes only: mIoU and mIoU_nonempty of seed 0


def test_malformed_reference_is_one_line_error(dirs, capsys):
    ref, res = dirs
    save_record(rec("new0"), res)
    bad = ref / "synthetic" / "mtinet" / "broken.json"
    bad.write_text("{ not json")
    code, out, err = _run(capsys, "--reference", str(ref), "--results", str(res))
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0 and str(bad) in err and "malformed JSON" in err
    with pytest.raises(RecordError, match="nowhere: reference folder or file does not exist"):
        run_check(res / "nowhere", res)
    with pytest.raises(UsageError, match="Tolerances must be >= 0"):
        run_check(ref, res, rel_tol=-1)


def test_reference_tolerances_file_with_patterns(tmp_path):
    """tolerances.yaml beside the references sets defaults; shell patterns cover per-class metrics."""
    from mtbench.reporting.regression import _override, reference_tolerances

    (tmp_path / "tolerances.yaml").write_text("rel_tol: 0.05\noverrides:\n  semseg.IoU_*: 4.0\n")
    tol = reference_tolerances(tmp_path)
    assert tol["rel_tol"] == 0.05
    assert _override(tol["overrides"], "semseg.IoU_7") == 4.0 and _override(tol["overrides"], "semseg.mIoU") is None
    (tmp_path / "tolerances.yaml").write_text("rel_tol: 0.05\nbogus: 1\n")
    with pytest.raises(RecordError, match="unexpected: bogus"):
        reference_tolerances(tmp_path)
    for text, match in (
        ("overrides: [semseg.mIoU, 2]\n", "overrides must map"),
        ("overrides:\n  semseg.mIoU: lots\n", "overrides must map"),
        ("rel_tol: '5%'\n", "rel_tol must be a non-negative number"),
        ("abs_tol: -1\n", "abs_tol must be a non-negative number"),
    ):
        (tmp_path / "tolerances.yaml").write_text(text)
        with pytest.raises(RecordError, match=match):
            reference_tolerances(tmp_path)


def test_floor_records_take_no_part(dirs, capsys):
    """A constant-predictor floor record (model constant) beside the measured runs is neither checked nor missing."""
    ref, res = dirs
    for seed in (0, 1):
        save_record(rec(f"new{seed}", seed=seed), res)
    save_record(rec("floor", model="constant", sem=4.0, rmse=1.6), res)
    save_record(rec("ref-floor", model="constant", sem=4.0, rmse=1.6, seed=5), ref)
    code, out, _ = _run(capsys, "--reference", str(ref), "--results", str(res))
    assert code == 0 and out.startswith("OK: 2 record(s), 8 metric(s) compared")
