"""``mtbench show``: the grid's panels and titles, per-image metrics, --worst ordering, mismatched runs."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line_error, tiny_overrides

from mtbench.analysis.show import collect, image_metric, load_runs, run_folder, worst_indices
from mtbench.cli import main
from mtbench.config import build_config
from mtbench.data.spec import get_dataset_spec
from mtbench.engine.run import run_experiment
from mtbench.reporting.show import IGNORED_RGB, format_value, labels_rgb, palette, show_figure

SIZE = {"data.n_train": 16, "data.n_val": 8, "data.train_size": "[64,96]"}
SEMSEG_CLASSES = 10  # the synthetic dataset's


def _train(root, model: str, tasks: str) -> str:
    cfg = build_config(None, tiny_overrides(root, **SIZE, **{"model.name": model, "data.tasks": f"[{tasks}]"}))
    ((record, _),) = run_experiment(cfg)
    return str(root / "runs" / record.id)


@pytest.fixture(scope="module")
def runs(module_tmp):
    root = module_tmp("show")
    return {
        "mtl": _train(root, "mtl", "semseg,depth"),
        "mtinet": _train(root, "mtinet", "semseg,depth"),
        "other": _train(root, "mtl", "semseg,normals"),
    }


def _miou(pred: np.ndarray, target: np.ndarray, n: int) -> float:
    """Hand mIoU of one image: mean over all n classes of TP / union (0 for an empty union), ignore 255."""
    valid = target != 255
    p, t = pred[valid], target[valid]
    ious = []
    for k in range(n):
        tp = np.sum((p == k) & (t == k))
        union = np.sum((p == k) | (t == k))
        ious.append(tp / union if union else 0.0)
    return 100.0 * float(np.mean(ious))


def _hand_semseg(run, index: int) -> float:
    sample = run.dataset[index]
    with torch.no_grad():
        logits = run.model(sample["image"].unsqueeze(0))["semseg"]
    return _miou(logits.argmax(1)[0].numpy(), sample["semseg"].numpy(), SEMSEG_CLASSES)


def _hand_rmse(run, index: int) -> float:
    sample = run.dataset[index]
    with torch.no_grad():
        p = run.model(sample["image"].unsqueeze(0))["depth"][0].double().numpy()
    t = sample["depth"].double().numpy()
    valid = t > 0
    p = np.where(p <= 0, 1e-9, p)  # clamped as the release clamps; unreached by trained depth heads
    return float(np.sqrt(np.mean((p[valid] - t[valid]) ** 2)))


def _value(title: str) -> float:
    return float(re.search(r"(?:mIoU|rmse) (-?[\d.]+)", title).group(1))


def test_cli_writes_png(runs, tmp_path, capsys):
    out = tmp_path / "g.png"
    main(["show", runs["mtl"], runs["mtinet"], "--n", "3", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(out)
    assert img.shape[0] > 200 and img.shape[1] > img.shape[0]  # 9 columns, 3 rows: wider than high
    assert f"wrote {out}" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, no temp file left


def test_grid_panels_and_titles_hold_each_images_metric(runs):
    loaded = load_runs([runs["mtl"], runs["mtinet"]])
    data = collect(loaded, "val", n=3)
    plot = show_figure(data, {"semseg": SEMSEG_CLASSES})
    titles = plot.titles()
    # rows = 3 images; columns = image + semseg (GT + 2 runs) + depth (GT + 2 runs + 2 |error| panels)
    assert len(titles) == 3 and all(len(r) == 1 + 3 + 5 for r in titles)
    assert [r.index for r in data.rows] == [0, 1, 2]
    for i, row in enumerate(titles):
        assert row[0] == f"synthetic_val_{i:05d}"
        assert row[1] == "semseg GT" and row[4] == "depth GT"
        assert row[2].startswith("mtl\nmIoU ") and row[3].startswith("mtinet\nmIoU ")
        assert row[5].startswith("mtl\nrmse ") and row[6].startswith("mtinet\nrmse ")
        assert row[7].startswith("mtl |err|\nrmse ") and row[8].startswith("mtinet |err|\nrmse ")
        for j, run in enumerate(loaded):
            assert _value(row[2 + j]) == pytest.approx(_hand_semseg(run, i), abs=0.006)
            assert _value(row[5 + j]) == pytest.approx(_hand_rmse(run, i), abs=6e-4)
            assert data.rows[i].tasks["semseg"].values[j] == pytest.approx(_hand_semseg(run, i), abs=1e-9)
    # the legend names the synthetic classes shown, the depth panels share one colour bar in metres
    legend_texts = [t.get_text() for leg in plot.figure.legends for t in leg.get_texts()]
    shown = set(np.unique(np.concatenate([r.tasks["semseg"].target.ravel() for r in data.rows])))
    assert {f"{k} {n}" for k, n in enumerate(("floor", "ceiling", "wall")) if k in shown} <= set(legend_texts)
    labels = {ax.get_xlabel() for ax in plot.figure.axes}
    assert {"depth (m)", "|error| (m)"} <= labels


def test_worst_picks_lowest_per_image_miou_of_first_run(runs):
    loaded = load_runs([runs["mtl"], runs["mtinet"]])
    data = collect(loaded, "val", n=3, worst="semseg")
    hand = [_hand_semseg(loaded[0], i) for i in range(8)]
    expected = sorted(range(8), key=lambda i: (hand[i], i))[:3]
    assert [r.index for r in data.rows] == expected
    values = [r.tasks["semseg"].values[0] for r in data.rows]
    assert values == sorted(values) and values == pytest.approx([hand[i] for i in expected], abs=1e-9)
    assert "worst" in data.note


def test_record_json_names_its_run_folder(runs):
    folder = Path(runs["mtl"])
    assert run_folder(folder / "record.json").resolve() == folder.resolve()


def test_mismatched_runs_one_line_error(runs, tmp_path, capsys):
    line = one_line_error(
        ["show", runs["mtl"], runs["other"], "--out", str(tmp_path / "x.png")], capsys, code=1, pattern="tasks"
    )
    assert Path(runs["other"]).name in line
    assert not (tmp_path / "x.png").exists()


def test_worst_task_must_be_a_main_task(runs, tmp_path, capsys):
    one_line_error(
        ["show", runs["mtl"], "--worst", "normals", "--out", str(tmp_path / "x.png")], capsys, code=2, pattern="normals"
    )


def test_per_image_metric_on_a_hand_made_prediction():
    spec = get_dataset_spec("synthetic")
    target = torch.tensor([[[0, 0, 1], [1, 2, 255]]])
    pred = torch.tensor([[[0, 1, 1], [1, 2, 0]]])
    # class 0: TP 1, union 2 -> 1/2; class 1: TP 2, union 3 -> 2/3; class 2: 1/1; classes 3..9: empty -> 0
    assert image_metric("semseg", pred, target, spec) == pytest.approx(100 * (0.5 + 2 / 3 + 1) / 10)
    t = torch.tensor([[[[1.0, 2.0], [0.0, 4.0]]]])
    p = torch.tensor([[[[2.0, 2.0], [9.0, 1.0]]]])
    # valid pixels (target > 0): errors 1, 0, 3 -> rmse sqrt(10 / 3); the invalid pixel is skipped
    assert image_metric("depth", p, t, spec) == pytest.approx(math.sqrt(10 / 3))
    # no valid pixel: NaN, shown as n/a
    assert math.isnan(image_metric("semseg", pred, torch.full_like(target, 255), spec))
    assert format_value(float("nan"), "mIoU", "%") == "mIoU n/a"


def test_worst_indices_direction_and_nan():
    assert worst_indices([50.0, 10.0, float("nan"), 30.0], 3, higher_is_better=True) == [1, 3, 0]
    assert worst_indices([0.5, 2.0, float("nan"), 1.0], 2, higher_is_better=False) == [1, 3]
    assert worst_indices([1.0, 1.0], 5, higher_is_better=True) == [0, 1]


def test_ignored_labels_are_grey():
    rgb = labels_rgb(np.array([[0, 255]]), SEMSEG_CLASSES)
    assert tuple(rgb[0, 1]) == IGNORED_RGB and tuple(rgb[0, 0]) != IGNORED_RGB
    assert tuple(labels_rgb(np.array([[3]]), 40)[0, 0]) == tuple(labels_rgb(np.array([[3]]), 10)[0, 0])


def test_no_class_colour_is_grey():
    """Grey marks ignored pixels: no class colour of NYUD's 40 or more is achromatic (tab20's class 14 and
    tab20c's 0.59 grey were), and every class has its own colour."""
    pal = palette(80)
    assert (pal.max(axis=1) - pal.min(axis=1) > 0.05).all()
    assert np.abs(pal - np.array(IGNORED_RGB)).max(axis=1).min() > 0.1
    assert len({tuple(c) for c in np.round(pal, 6)}) == 80
    np.testing.assert_array_equal(palette(21), pal[:21])  # class k: the same colour whatever the class count


def test_attach_saves_the_grid_beside_the_record(runs, tmp_path, capsys):
    """--attach writes <id>.show.png beside the run's record JSON (the site's grid); it needs that JSON, and
    excludes --out."""
    folder = Path(runs["mtl"])
    (record,) = folder.parent.parent.glob(f"results/*/mtl/{folder.name}.json")
    main(["show", str(record), "--n", "2", "--attach"])
    grid = record.with_name(f"{folder.name}.show.png")
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {grid}" in capsys.readouterr().out
    one_line_error(["show", str(folder), "--attach"], capsys, code=2, pattern="record JSON")
    one_line_error(
        ["show", str(record), "--attach", "--out", str(tmp_path / "x.png")], capsys, code=2, pattern="either --out"
    )
    assert not (tmp_path / "x.png").exists()
