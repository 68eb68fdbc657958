"""Δm from records: formula (hand-computed), baseline matching, seeds, notes, writing back."""

from __future__ import annotations

import json
import statistics

import pytest

from mtbench.errors import RecordError
from mtbench.reporting.delta_m import annotate_delta_m, delta_m, group_delta_m, record_delta_m, write_delta_m
from mtbench.reporting.results import Cost, RunRecord, save_record

CITE = "Vandenhende et al., MTI-Net, ECCV 2020, Table 2a"


def rec(id, model, metrics, seed=None, tasks=None, **kw) -> RunRecord:
    kw.setdefault("cost", {"input_size": [480, 640]})
    return RunRecord(
        id=id,
        model=model,
        backbone=kw.pop("backbone", "hrnet18"),
        dataset=kw.pop("dataset", "nyud"),
        tasks=tasks or list(metrics),
        seed=seed,
        metrics=metrics,
        **kw,
    )


def st(id, task, metric, value, seed=0, **kw) -> RunRecord:
    return rec(id, "single_task", {task: {metric: value}}, seed=seed, **kw)


@pytest.fixture
def baselines() -> list[RunRecord]:
    # two seeds each; means: semseg mIoU 33.18, depth rmse 0.667 (the MTI-Net paper's single-task row)
    return [
        st("st-s0", "semseg", "mIoU", 33.0, 0),
        st("st-s1", "semseg", "mIoU", 33.36, 1),
        st("st-d0", "depth", "rmse", 0.66, 0),
        st("st-d1", "depth", "rmse", 0.674, 1),
    ]


def test_formula_matches_hand_computation():
    hib = {"semseg": True, "depth": False}
    s = {"semseg": 33.18, "depth": 0.667}
    # ((35.12-33.18)/33.18 + (0.667-0.620)/0.667) / 2 * 100
    assert delta_m({"semseg": 35.12, "depth": 0.620}, s, hib) == pytest.approx(6.446686, abs=1e-5)
    # multi-task baseline row of the paper: 32.09 / 0.668
    assert delta_m({"semseg": 32.09, "depth": 0.668}, s, hib) == pytest.approx(-1.717518, abs=1e-5)
    assert delta_m({"semseg": 33.18, "depth": 0.667}, s, hib) == 0.0


def test_record_delta_m_uses_seed_mean_of_baselines(baselines):
    m = rec("mti", "mtinet", {"semseg": {"mIoU": 35.12}, "depth": {"rmse": 0.620}})
    res = record_delta_m(m, baselines + [m])
    assert res.value == pytest.approx(6.446686, abs=1e-5)
    assert res.baselines == {"semseg": ["st-s0", "st-s1"], "depth": ["st-d0", "st-d1"]}
    assert res.display() == "+6.45"


def test_primary_field_wins_over_metrics(baselines):
    m = rec("mti", "mtinet", {"semseg": {"mIoU": 0.0}, "depth": {"rmse": 0.620}}, primary={"semseg": 35.12})
    assert record_delta_m(m, baselines).value == pytest.approx(6.446686, abs=1e-5)


def test_several_seeds_mean_and_std(baselines):
    group = [
        rec("a", "mtinet", {"semseg": {"mIoU": 35.0}, "depth": {"rmse": 0.62}}, seed=0),
        rec("b", "mtinet", {"semseg": {"mIoU": 35.24}, "depth": {"rmse": 0.62}}, seed=1),
    ]
    # paired: each seed against the single-task runs of the same seed (33.0 / 0.66 and 33.36 / 0.674)
    per = [100 * ((35.0 - 33.0) / 33.0 + 0.04 / 0.66) / 2, 100 * ((35.24 - 33.36) / 33.36 + 0.054 / 0.674) / 2]
    res = group_delta_m(group, baselines)
    assert res.paired is True and not any("unpaired" in n for n in res.notes)
    assert res.value == pytest.approx(statistics.fmean(per))
    assert res.std == pytest.approx(abs(per[0] - per[1]) / 2**0.5)
    assert res.per_record == pytest.approx({"a": per[0], "b": per[1]})
    assert res.baselines == {"semseg": ["st-s0", "st-s1"], "depth": ["st-d0", "st-d1"]}
    # 95 % interval: mean ± t(0.975, 1) · s / √2, t(0.975, 1) = 12.7062047
    h = 12.7062047 * res.std / 2**0.5
    assert (res.interval.low, res.interval.high) == pytest.approx((res.value - h, res.value + h))
    # the unpaired fallback compares each seed with the baselines' seed mean (33.18 / 0.667)
    unpaired = group_delta_m(group, baselines, pairing=False)
    per_u = [100 * ((35.0 - 33.18) / 33.18 + 0.047 / 0.667) / 2, 100 * ((35.24 - 33.18) / 33.18 + 0.047 / 0.667) / 2]
    assert unpaired.paired is False and unpaired.value == pytest.approx(statistics.fmean(per_u))
    assert any(n.startswith("unpaired Δm") for n in unpaired.notes)


def test_paired_falls_back_to_the_seed_mean_without_a_same_seed_baseline(baselines):
    m = rec("c", "mtinet", {"semseg": {"mIoU": 35.12}, "depth": {"rmse": 0.620}}, seed=2)
    res = record_delta_m(m, baselines)
    assert res.paired is False and res.value == pytest.approx(6.446686, abs=1e-5)
    assert any(n.startswith("unpaired Δm") for n in res.notes)


def test_same_seed_repeat_changes_neither_n_nor_the_row(baselines):
    a = rec("a", "mtinet", {"semseg": {"mIoU": 35.0}, "depth": {"rmse": 0.62}}, seed=0)
    b = rec("b", "mtinet", {"semseg": {"mIoU": 35.24}, "depth": {"rmse": 0.62}}, seed=1)
    again = a.model_copy(update={"id": "a-again"})  # the same configuration and seed, run again
    one, two = group_delta_m([a, b], baselines), group_delta_m([a, b, again], baselines)
    assert two.sample.n == one.sample.n == 2 and two.sample.repeats == 1 and one.sample.repeats == 0
    assert two.value == pytest.approx(one.value) and two.std == pytest.approx(one.std)
    assert (two.interval.low, two.interval.high) == pytest.approx((one.interval.low, one.interval.high))
    # a repeated single-task baseline of seed 0 is averaged into seed 0's baseline, not counted twice
    st_again = baselines[0].model_copy(update={"id": "st-s0-again"})
    assert group_delta_m([a, b], [*baselines, st_again]).value == pytest.approx(one.value)


def test_baseline_of_another_budget_is_not_a_baseline(baselines):
    def with_data(r, n_train, tasks):
        return r.model_copy(update={"config": {"data": {"n_train": n_train, "tasks": tasks}, "eval": {"split": "val"}}})

    m = with_data(rec("m", "mtinet", {"semseg": {"mIoU": 35.0}}, seed=0), 3072, ["semseg"])
    same = [with_data(b, 3072, b.tasks) for b in baselines]
    other = [with_data(b, 12288, b.tasks) for b in baselines]
    assert record_delta_m(m, same).value == pytest.approx(100 * (35.0 - 33.0) / 33.0)
    assert record_delta_m(m, other).value is None


def test_paired_bootstrap_replicates_of_one_seed(baselines):
    from mtbench.reporting.results import Bootstrap

    def boot(r, task, reps):
        return r.model_copy(update={"bootstrap": {task: Bootstrap(metric="x", n_images=3, seed=0, replicates=reps)}})

    m = rec("m", "mtinet", {"semseg": {"mIoU": 35.0}}, seed=0)
    m = boot(m, "semseg", [34.0, 36.0, 35.0, 33.0])
    base = [boot(baselines[0], "semseg", [32.0, 34.0, 33.0, 33.0]), *baselines[1:]]
    res = group_delta_m([m], base)
    # replicate by replicate against the same resampled images of the seed-0 baseline
    assert res.replicates is None and res.sample.replicates[0] == pytest.approx(
        [100 * (34 - 32) / 32, 100 * (36 - 34) / 34, 100 * (35 - 33) / 33, 0.0]
    )
    assert res.interval.method == "bootstrap" and res.interval.n == 1
    # replicates on other images (another count) are not comparable: no interval
    other = [baselines[0].model_copy(update={"bootstrap": {}}), *baselines[1:]]
    assert group_delta_m([m], other).interval.method == "none"


def test_missing_baseline_is_na_with_reason(baselines):
    m = rec("mti", "mtinet", {"semseg": {"mIoU": 35.0}, "normals": {"mean": 20.0}})
    res = record_delta_m(m, baselines)
    assert res.value is None and res.display() == "n/a (no single-task baseline for normals)"
    only_sem = [b for b in baselines if b.tasks == ["semseg"]]
    res = record_delta_m(rec("x", "mtinet", {"semseg": {"mIoU": 35.0}, "depth": {"rmse": 0.6}}), only_sem)
    assert res.display() == "n/a (no single-task baseline for depth)"


@pytest.mark.parametrize(
    "change",
    [
        {"backbone": "resnet18"},
        {"cost": Cost(input_size=(240, 320))},
        {"split": "train"},
        {"dataset": "pascal_context"},
        {"source": "reported", "citation": CITE},
        {"aux_tasks": ["edge"]},
        {"status": "failed"},
    ],
)
def test_baselines_must_match(baselines, change):
    m = rec("mti", "mtinet", {"semseg": {"mIoU": 35.0}})
    other = [b.model_copy(update=change) for b in baselines]
    assert record_delta_m(m, other).value is None
    assert record_delta_m(m, baselines).value == pytest.approx(100 * (35.0 - 33.18) / 33.18)


def test_edge_enters_with_odsf_and_aux_tasks_ignored(baselines):
    edge_st = st("st-e0", "edge", "odsF", 70.0)
    m = rec(
        "mtl",
        "mtl",
        {"semseg": {"mIoU": 32.09}, "depth": {"rmse": 0.668}, "edge": {"odsF": 72.1}},
        aux_tasks=["normals"],
    )
    res = record_delta_m(m, baselines + [edge_st])
    # ((32.09-33.18)/33.18 - (0.668-0.667)/0.667 + (72.1-70)/70) / 3 * 100; the aux normals do not enter
    assert res.value == pytest.approx(100 * ((32.09 - 33.18) / 33.18 - 0.001 / 0.667 + 2.1 / 70) / 3, abs=1e-9)
    assert res.baselines["edge"] == ["st-e0"] and "normals" not in res.baselines


def test_task_outside_delta_m_is_excluded_with_a_note(baselines, monkeypatch):
    import dataclasses

    import mtbench.registry as registry

    edge = registry.get_task("edge")
    monkeypatch.setitem(registry._TASKS, "edge", dataclasses.replace(edge, in_delta_m=False, note="not comparable"))
    m = rec("mtl", "mtl", {"semseg": {"mIoU": 32.09}, "depth": {"rmse": 0.668}, "edge": {"odsF": 72.1}})
    res = record_delta_m(m, baselines)
    assert res.value == pytest.approx(-1.717518, abs=1e-5)
    assert res.notes[0].startswith("edge excluded from Δm: ") and not any("edge" in n for n in res.notes[1:])


def test_single_task_zero_and_reported_published(baselines):
    assert record_delta_m(baselines[0], baselines).value == 0.0
    rep = rec(
        "rep",
        "mtinet",
        {"semseg": {"mIoU": 35.12}, "depth": {"rmse": 0.62}},
        seed=None,
        source="reported",
        citation=CITE,
        delta_m={"value": 6.40},
    )
    res = record_delta_m(rep, baselines)
    assert res.value == 6.40 and res.kind == "published"
    # a reported row without a published Δm never uses measured baselines
    rep2 = rep.model_copy(update={"delta_m": None})
    assert record_delta_m(rep2, baselines).value is None
    rep_st = [b.model_copy(update={"source": "reported", "citation": CITE}) for b in baselines]
    assert record_delta_m(rep2, rep_st).value == pytest.approx(6.446686, abs=1e-5)


def test_unknown_task_names_the_file(tmp_path, baselines):
    p = save_record(rec("bad", "mtinet", {"semsge": {"mIoU": 1.0}}), tmp_path)
    from mtbench.reporting.results import load_record

    with pytest.raises(RecordError, match=rf"{p}: Unknown task 'semsge'; did you mean 'semseg'"):
        record_delta_m(load_record(p), baselines)


def test_write_delta_m_records_ids(tmp_path, baselines):
    for b in baselines:
        save_record(b, tmp_path)
    path = save_record(rec("mti", "mtinet", {"semseg": {"mIoU": 35.12}, "depth": {"rmse": 0.62}}), tmp_path)
    written = write_delta_m(tmp_path)
    assert path in written
    data = json.loads(path.read_text())["delta_m"]
    assert data["value"] == pytest.approx(6.446686, abs=1e-5)
    assert data["baselines"] == {"semseg": ["st-s0", "st-s1"], "depth": ["st-d0", "st-d1"]}
    assert write_delta_m(tmp_path) == []  # unchanged: nothing rewritten
    annotated = annotate_delta_m(baselines)
    assert [a.delta_m.value for a in annotated] == [0.0] * 4


def test_floor_record_has_no_delta_m_and_is_never_a_baseline(tmp_path, baselines):
    floor = rec("floor", "constant", {"semseg": {"mIoU": 4.1}, "depth": {"rmse": 1.6}})
    res = record_delta_m(floor, baselines)
    assert res.value is None and res.reason == "n/a (constant-predictor floor)"
    mti = rec("mti", "mtinet", {"semseg": {"mIoU": 35.12}, "depth": {"rmse": 0.62}})
    assert record_delta_m(mti, [*baselines, floor]) == record_delta_m(mti, baselines)
    for b in baselines:
        save_record(b, tmp_path)
    path = save_record(floor, tmp_path)
    text = path.read_text()
    assert path not in write_delta_m(tmp_path) and path.read_text() == text  # the floor record is never rewritten
