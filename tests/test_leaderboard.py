"""`mtbench table`: grouping, Δm, sorting, best-value marking, footnotes, filters and every format."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from mtbench.cli import main
from mtbench.reporting.leaderboard import DM_COL, build_frame, leaderboard
from mtbench.reporting.results import RunRecord, load_records, save_record

CITE = "Vandenhende et al., MTI-Net, ECCV 2020, Table 2a"
SEM, DEP = "semseg mIoU (%) ↑", "depth rmse (m) ↓"


def rec(id, model, sem=None, dep=None, seed=0, nor=None, **kw) -> RunRecord:
    metrics = {} if nor is None else {"normals": {"mean": nor}}
    if sem is not None:
        metrics["semseg"] = {"mIoU": sem}
    if dep is not None:
        metrics["depth"] = {"rmse": dep}
    cost = {"input_size": [480, 640], **kw.pop("cost", {})}
    return RunRecord(
        id=id,
        model=model,
        backbone=kw.pop("backbone", "hrnet18"),
        dataset=kw.pop("dataset", "nyud"),
        tasks=kw.pop("tasks", list(metrics)),
        seed=seed,
        metrics=metrics,
        cost=cost,
        **kw,
    )


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    st_cost = {
        "params": 4_000_000,
        "gmacs": 11.0,
        "peak_mem_mb": 900.0,
        "mem_kind": "cuda_max_allocated_train",
        "latency_ms": 5.0,
        "device": "NVIDIA H100",
    }
    for s, (a, b) in enumerate([(33.0, 0.66), (33.36, 0.674)]):
        save_record(rec(f"st-s{s}", "single_task", sem=a, seed=s, cost=st_cost), root)
        save_record(rec(f"st-d{s}", "single_task", dep=b, seed=s, cost=st_cost), root)
    mti_cost = {"params": 12_500_000, "gmacs": 19.1, "unsupported_ops": {"aten::upsample_bilinear2d": 12}}
    save_record(rec("mti-0", "mtinet", 35.0, 0.62, 0, cost=mti_cost), root)
    save_record(rec("mti-1", "mtinet", 35.24, 0.62, 1, cost=mti_cost), root)
    save_record(rec("mti-nofpm", "mtinet", 34.38, 0.64, config={"model": {"kwargs": {"fpm": False}}}), root)
    save_record(rec("mtl", "mtl", 32.09, 0.668), root)
    save_record(rec("pad", "padnet", 32.8, 0.66, nor=20.0), root)  # no normals baseline -> n/a
    save_record(
        rec("rep", "mtinet", 35.12, 0.62, None, source="reported", citation=CITE, delta_m={"value": 6.40}), root
    )
    save_record(rec("other", "mtinet", 49.0, 0.529, backbone="hrnet48"), root)
    save_record(rec("ref-copy", "mtinet", 1.0, 9.9), root / "reference")  # CI reference: never in the table
    (root / "LEADERBOARD.md").write_text("old board\n")
    (root / "nyud" / "pareto.png").write_bytes(b"\x89PNG\r\n")
    return root


def test_frame_groups_sorts_and_computes(results):
    df = build_frame(load_records(results), backbone="hrnet18")
    assert list(df["Model"]) == ["mtinet", "mtinet", "mtinet (no FPM)", "single_task", "mtl", "padnet"]
    assert list(df["Source"]) == ["measured", "reported", "measured", "measured", "measured", "measured"]
    top = df.iloc[0]
    assert top["Seeds"] == 2 and top[SEM] == pytest.approx(35.12) and top[f"{SEM} std"] == pytest.approx(0.16970563)
    # paired: each seed against the single-task runs of its own seed
    per = [100 * ((35.0 - 33.0) / 33.0 + 0.04 / 0.66) / 2, 100 * ((35.24 - 33.36) / 33.36 + 0.054 / 0.674) / 2]
    assert top[DM_COL] == pytest.approx(sum(per) / 2)
    assert df.iloc[1][DM_COL] == 6.40  # published Δm of the reported row
    single = df.iloc[3]
    assert single[DM_COL] == 0.0 and single["Tasks"] == "semseg, depth"
    assert single["Params (M)"] == pytest.approx(8.0) and single["GMACs"] == pytest.approx(22.0)
    assert single["Peak mem (MiB)"] == 900.0 and single["Latency (ms)"] == pytest.approx(10.0)
    # paired with the seed-0 single-task runs (33.0, 0.66): ((32.09 - 33) / 33 - (0.668 - 0.66) / 0.66) / 2
    assert df.iloc[4][DM_COL] == pytest.approx(-1.984848, abs=1e-5)
    assert pd.isna(df.iloc[5][DM_COL]) and df.iloc[5]["Δm note"] == "n/a (no single-task baseline for normals)"
    assert "semseg:st-s0,st-s1 depth:st-d0,st-d1" == top["Δm baselines"]


def test_github_table(results):
    text = leaderboard(results, dataset="nyud", backbone="hrnet18", fmt="github")
    lines = text.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["Model", "Backbone", "Tasks", SEM]
    assert header[4:] == [
        DEP,
        "normals mean (deg) ↓",
        DM_COL,
        "Params (M)",
        "GMACs",
        "Peak mem (MiB)",
        "Latency (ms)",
        "Device",
        "Seeds",
        "Source",
    ]
    rows = [dict(zip(header, (c.strip() for c in ln.strip("|").split("|")))) for ln in lines[2:8]]
    # ± is the 95 % t half-width over 2 seeds: t(0.975, 1) = 12.706 × std / √2; ▲: Δm's interval excludes 0
    assert rows[0][SEM] == "**35.12 ± 1.52**" and rows[0][DM_COL] == "**+6.44 ± 4.85 ▲**"
    assert rows[0]["GMACs"] == "**19.10** [1]" and rows[0]["Params (M)"] == "12.50"  # 19.1 < 22 GMACs
    assert rows[1][DM_COL] == "+6.40 [2]" and rows[1]["Source"] == "reported [3]"
    assert rows[2]["Model"] == "mtinet (no FPM)" and rows[2][DM_COL] == "+3.61"
    assert rows[3][DM_COL] == "0.00 [4]" and rows[3]["Params (M)"] == "**8.00**"
    assert rows[3]["Latency (ms)"] == "10.00" and rows[3]["Device"] == "NVIDIA H100"
    assert rows[4][DM_COL] == "-1.98" and rows[4][DEP] == "0.668"
    assert rows[5][DM_COL] == "n/a (no single-task baseline for normals)" and rows[5]["normals mean (deg) ↓"] == "20.00"
    assert "[1] GMACs exclude ops fvcore does not count: aten::upsample_bilinear2d ×12" in text
    assert f"[3] reported: {CITE}" in text
    assert "hrnet48" not in text and "9.9" not in text  # filter and reference/ excluded


def test_dataset_filter_error_and_backbone_column(results):
    with pytest.raises(Exception, match="no complete records match dataset=pascal_context"):
        leaderboard(results, dataset="pascal_context")
    text = leaderboard(results, fmt="github")
    assert "hrnet48" in text


def test_csv_json_latex_html(results, tmp_path):
    csv = leaderboard(results, backbone="hrnet18", fmt="csv")
    df = pd.read_csv(io.StringIO(csv))
    assert df.loc[0, DM_COL] == pytest.approx(6.44214, abs=1e-4) and df.loc[0, "Params (M)"] == 12.5
    assert df.loc[0, f"{DM_COL} ci95_low"] == pytest.approx(6.44214 - 4.8483, abs=1e-3)
    assert df.loc[0, f"{DM_COL} ci95_high"] == pytest.approx(6.44214 + 4.8483, abs=1e-3)
    assert df.loc[0, "Δm sig"] == 1 and df.loc[0, "Seeds"] == 2 and df.loc[0, "Δm paired"]
    assert df.loc[3, "Model"] == "single_task" and df.loc[3, "Record ids"] == "st-d0 st-d1 st-s0 st-s1"
    data = json.loads(leaderboard(results, backbone="hrnet18", fmt="json"))
    assert data["columns"][0] == {"name": SEM, "higher_is_better": True}
    assert data["rows"][5][DM_COL] is None and data["rows"][1]["Citation"] == CITE
    tex = leaderboard(results, backbone="hrnet18", fmt="latex")
    assert tex.startswith(r"\begin{tabular}") and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"\textbf{35.12 $\pm$ 1.52}" in tex and r"semseg mIoU (\%) $\uparrow$" in tex
    assert r"single\_task" in tex
    page = leaderboard(results, backbone="hrnet18", fmt="html")
    assert "<table" in page and "<b>35.12 ± 1.52</b>" in page and "<li>reported: " in page
    out = tmp_path / "board" / "LEADERBOARD.md"
    text = leaderboard(results, backbone="hrnet18", out=out)
    assert out.read_text() == text


def test_cli_table_and_malformed_record(results, capsys, tmp_path):
    main(["table", "--results", str(results), "--backbone", "hrnet18", "--format", "csv"])
    assert capsys.readouterr().out.startswith("Dataset,Split,Model,Backbone,")
    out = tmp_path / "t.md"
    main(["table", "--results", str(results), "--out", str(out)])
    assert capsys.readouterr().out.strip() == f"wrote {out}" and out.exists()
    bad = results / "nyud" / "mtinet" / "broken.json"
    bad.write_text('{"id": "broken", "model": "mtinet",')
    with pytest.raises(SystemExit) as e:
        main(["table", "--results", str(results)])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "malformed JSON" in err


def test_measured_rows_whose_protocol_differs_from_the_reported_rows_get_a_footnote(tmp_path):
    release = {"fpm": "softmax=release", "poly_step": "epoch", "depth_eval": "pred<=0 -> 1e-9 before metrics"}
    recs = [
        rec("st-s", "single_task", sem=33.0, protocol={"poly_step": "epoch"}),
        rec("st-d", "single_task", dep=0.66, protocol={"poly_step": "epoch"}),
        rec("rep", "mtinet", 35.12, 0.62, None, source="reported", citation=CITE, protocol=release),
        rec(
            "rep-st",
            "single_task",
            33.18,
            0.667,
            None,
            source="reported",
            citation=CITE,
            protocol={"poly_step": "epoch", "depth_eval": release["depth_eval"]},
        ),
        # same configuration as the reported MTI-Net row, but the paper text's FPM and a per-iteration poly
        rec(
            "mti-paper",
            "mtinet",
            35.0,
            0.63,
            protocol={**release, "fpm": "softmax=paper", "poly_step": "iter"},
            config={"model": {"kwargs": {}}},
        ),
        rec("mtl", "mtl", 32.0, 0.67, protocol={"poly_step": "epoch", "depth_eval": release["depth_eval"]}),
    ]
    df = build_frame(recs, dataset="nyud")
    notes = dict(zip(df["Record ids"], df["Notes"]))
    assert (
        "protocol differs from the reported rows: fpm=softmax=paper (reported: softmax=release); "
        "poly_step=iter (reported: epoch)"
    ) in notes["mti-paper"]
    assert "protocol differs" not in notes["mtl"]  # same choices as every reported row it shares keys with
    assert "protocol differs" not in notes["rep"]  # reported rows are the reference
    out = build_frame(recs, dataset="nyud")
    from mtbench.reporting.leaderboard import render

    text = render(out, "github")
    assert "fpm=softmax=paper (reported: softmax=release)" in text


def test_floor_record_is_neither_row_nor_baseline(results, capsys):
    """A constant-predictor floor record (model constant) leaves every table unchanged, even one that looks like a
    single-task baseline's configuration: no row, no Δm baseline, no seed counted."""
    before = {f: leaderboard(results, fmt=f) for f in ("github", "csv", "json")}
    main(["table", "--results", str(results), "--format", "csv"])
    cli_before = capsys.readouterr().out
    for seed in (0, 5):
        save_record(rec(f"floor-{seed}", "constant", 4.1, 1.6, seed, config={"model": {"name": "constant"}}), results)
    assert {f: leaderboard(results, fmt=f) for f in ("github", "csv", "json")} == before
    main(["table", "--results", str(results), "--format", "csv"])
    assert capsys.readouterr().out == cli_before
    with pytest.raises(Exception, match=r"no complete records match .* \(present: none\)"):
        build_frame([r for r in load_records(results) if r.is_floor])
