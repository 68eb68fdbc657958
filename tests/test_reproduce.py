"""``mtbench reproduce nyud-table2a`` end to end on a tiny synthetic folder in the NYUD layout: every row
runs with the release recipe (shrunk by --set), the comparison lists reported beside measured, rows already
recorded are skipped, and a protocol difference is footnoted."""

from __future__ import annotations

import json

import pytest

from mtbench.cli import main
from mtbench.paper_tables import NYUD_TABLE_2A
from mtbench.reporting.results import load_records

SHRINK = [
    "model.pretrained=false",
    "data.train_size=[64,96]",
    "train.epochs=1",
    "train.max_iters=1",
    "train.batch_size=2",
    "eval.batch_size=2",
    "run.profile=false",
    "data.workers=0",
]


def _sets(tmp_path, extra=()):
    return sum((["--set", s] for s in [*SHRINK, f"run.runs_dir={tmp_path / 'runs'}", *extra]), [])


@pytest.fixture(scope="module")
def nyud_folder(module_tmp):
    root = module_tmp("nyud")
    main(["data", "synth", "--out", str(root), "--n", "8", "--size", "64x96"])
    return root


def test_reproduce_runs_every_row_then_skips_and_compares(nyud_folder, tmp_path, capsys):
    results = tmp_path / "results"
    args = [
        "reproduce",
        "nyud-table2a",
        "--data-root",
        str(nyud_folder),
        "--seeds",
        "0",
        "--device",
        "cpu",
        "--results",
        str(results),
        *_sets(tmp_path),
    ]
    main([*args, "--format", "json"])
    out = capsys.readouterr()
    assert "7 run(s) done" in out.err
    recs = load_records(results)
    # one record per row, the single-task row one per task
    assert len(recs) == 8 and {r.dataset for r in recs} == {"nyud"}
    mti = [r for r in recs if r.model == "mtinet"]
    assert sorted(tuple(r.aux_tasks) for r in mti) == [(), (), ("edge",), ("edge", "normals")]
    for r in recs:  # the release protocol, recorded
        assert r.config["train"]["poly_step"] == "epoch" and r.protocol["poly_step"] == "epoch"
        assert r.config["train"]["optimizer"] == "adam" and r.config["train"]["lr"] == 1e-4
    assert {r.protocol.get("fpm") for r in mti} == {"softmax=release", "none (w/o FPM ablation)"}
    report = json.loads(out.out)
    assert report["table"] == "nyud-table2a"
    lines = report["rows"]
    assert len(lines) == 3 * len(NYUD_TABLE_2A.rows)
    by = {(ln["row"], ln["quantity"]): ln for ln in lines}
    st = by[("Single task", "semseg mIoU")]
    measured_st = next(r for r in recs if r.model == "single_task" and r.tasks == ["semseg"]).metrics["semseg"]["mIoU"]
    assert st["reported"] == 33.18 and st["measured"] == pytest.approx(measured_st)
    assert st["difference"] == pytest.approx(measured_st - 33.18) and st["seeds"] == 1
    assert st["within_ci"] is None and st["ci95_low"] is None  # one seed: no interval
    mt = by[("MTI-Net", "depth rmse")]
    assert mt["reported"] == 0.620 and mt["measured"] is not None
    assert by[("MTI-Net + edge + normals (aux)", "Δm (%)")]["reported"] == 10.91
    assert by[("Single task", "Δm (%)")]["measured"] == 0.0

    # everything recorded: nothing runs again, the markdown comparison names the table
    main([*args, "--dry-run"])
    out = capsys.readouterr()
    assert "0 run(s) to do" in out.err
    assert "Table 2a" in out.out and "| MTI-Net w/o FPM" in out.out and "Reported within 95 % CI" in out.out


def test_reproduce_needs_a_data_root(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MTBENCH_DATA", raising=False)
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "nyud-table2a", "--results", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs --data-root" in err[0]
    with pytest.raises(SystemExit):
        main(["reproduce", "pascal-table9", "--results", str(tmp_path)])
    assert "Unknown paper table 'pascal-table9'" in capsys.readouterr().err


def test_comparison_intervals_and_paired_delta_m_by_hand():
    """Measured = mean ± the 95 % t half-width over seeds; Δm per seed against the same seed's single-task
    values (paired), or their mean when a seed lacks one (unpaired); 'within' is the reported value in the CI."""
    import math
    import statistics

    from _records import metric_record

    from mtbench.reproduce import DM, RowResult, comparison, render

    rows = {r.model: RowResult(r) for r in NYUD_TABLE_2A.rows if r.model in ("single_task", "mtl")}
    st_sem, st_dep = {0: 30.0, 1: 32.0, 2: 34.0}, {0: 0.70, 1: 0.66, 2: 0.68}
    mt_sem, mt_dep = {0: 31.0, 1: 32.5, 2: 33.0}, {0: 0.69, 1: 0.67, 2: 0.66}
    for s in (0, 1, 2):
        st = rows["single_task"].records
        st.setdefault("semseg", {})[s] = metric_record(f"st-s{s}", "single_task", s, st_sem[s])
        st.setdefault("depth", {})[s] = metric_record(f"st-d{s}", "single_task", s, None, st_dep[s])
        rec = metric_record(f"mtl-{s}", "mtl", s, mt_sem[s], mt_dep[s])
        for t in ("semseg", "depth"):
            rows["mtl"].records.setdefault(t, {})[s] = rec
    lines = {(ln["row"], ln["quantity"]): ln for ln in comparison(NYUD_TABLE_2A, list(rows.values()))}
    mtl_label = rows["mtl"].row.label
    t975_2 = 4.302652729911275  # Student t, 0.975 quantile, 2 degrees of freedom
    sem = lines[(mtl_label, "semseg mIoU")]
    h = t975_2 * statistics.stdev(mt_sem.values()) / math.sqrt(3)
    assert sem["measured"] == pytest.approx(32.1666666667)
    assert sem["ci95_low"] == pytest.approx(32.1666666667 - h) and sem["ci95_high"] == pytest.approx(32.1666666667 + h)
    assert sem["within_ci"] is (abs(32.09 - 32.1666666667) <= h)  # the paper's mtl mIoU against the interval
    per_seed = [
        50 * ((mt_sem[s] - st_sem[s]) / st_sem[s] - (mt_dep[s] - st_dep[s]) / st_dep[s]) for s in (0, 1, 2)
    ]  # Δm over 2 tasks: mean of +relative mIoU gain and -relative RMSE change, in %
    dm = lines[(mtl_label, DM)]
    assert dm["paired"] is True and dm["measured"] == pytest.approx(statistics.fmean(per_seed))
    assert dm["std"] == pytest.approx(statistics.stdev(per_seed))
    # the single-task row loses seed 2's depth: seed 2 has no same-seed baseline, Δm falls back to the mean
    del rows["single_task"].records["depth"][2]
    lines = {(ln["row"], ln["quantity"]): ln for ln in comparison(NYUD_TABLE_2A, list(rows.values()))}
    dm = lines[(mtl_label, DM)]
    base_dep = (0.70 + 0.66) / 2
    unpaired = [50 * ((mt_sem[s] - 32.0) / 32.0 - (mt_dep[s] - base_dep) / base_dep) for s in (0, 1, 2)]
    assert dm["paired"] is False and dm["measured"] == pytest.approx(statistics.fmean(unpaired))
    text = render(NYUD_TABLE_2A, list(lines.values()))
    assert "(unpaired)" in text and "Measured (mean ± 95 % CI)" in text
