"""``mtbench show`` and ``mtbench affinity`` on tiny NYUD and PASCAL-Context runs: dataset folders written to
tmp_path, each dataset's release recipe shrunk to one training iteration on CPU (the evaluation input size is
the run's data.train_size, and the canvas of original-size targets defaults to it), then the grid's panels,
titles and per-image metrics (by hand), ignored pixels grey, a record JSON as RUN, and the CKA JSON."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _datasets import PASCAL_SIZE, write_pascal_context

from mtbench.analysis.show import collect, load_runs
from mtbench.cli import main
from mtbench.config import build_config
from mtbench.engine.run import run_experiment
from mtbench.reporting.show import IGNORED_RGB, palette, show_figure

SHRINK = [  # as tests/test_reproduce.py: a tiny run of a release recipe
    "model.pretrained=false",
    "train.epochs=1",
    "train.max_iters=1",
    "train.batch_size=2",
    "eval.batch_size=2",
    "run.profile=false",
    "run.quiet=true",
    "data.workers=0",
]
NYUD_TASKS = ["semseg", "depth", "normals", "edge"]
PASCAL_TASKS = ["semseg", "human_parts", "saliency", "normals", "edge"]
NYUD_HW, PASCAL_INPUT = (64, 96), (32, 32)
GREY = np.array(IGNORED_RGB)
HRNET18 = {32: 144, 16: 72, 8: 36, 4: 18}  # channels of each scale's task features


def _train(root: Path, recipe: str, data_root: Path, model: str, tasks: list[str], size) -> tuple[Path, Path]:
    """Train a tiny run of ``recipe``; returns its run folder and its record JSON under root/results."""
    sets = [
        *SHRINK,
        f"data.root={data_root}",
        f"model.name={model}",
        f"data.tasks=[{','.join(tasks)}]",
        "data.aux_tasks=[]",
        f"data.train_size=[{size[0]},{size[1]}]",
        f"run.results={root / 'results'}",
        f"run.runs_dir={root / 'runs'}",
    ]
    ((record, path),) = run_experiment(build_config(recipe, sets))
    return root / "runs" / record.id, Path(path)


@pytest.fixture(scope="module")
def nyud_run(module_tmp):
    """MTI-Net on a NYUD-layout folder (`mtbench data synth`: 6 train + 2 val scenes of 64×96), the NYUD recipe,
    every NYUD task a main task (every panel kind but saliency's)."""
    root = module_tmp("nyud")
    main(["data", "synth", "--out", str(root / "data"), "--n", "8", "--size", "64x96"])
    return _train(root, "nyud_hrnet18_480x640_100ep", root / "data", "mtinet", NYUD_TASKS, NYUD_HW)


@pytest.fixture(scope="module")
def pascal_run(module_tmp):
    """MTL on a tiny PASCAL-Context folder (12×16 images; val q0 with a person, q1 without), the PASCAL recipe
    with its five tasks, the 512×512 input shrunk to 32×32."""
    root = module_tmp("pascal")
    splits = {"train": ("p0", "p1"), "val": ("q0", "q1")}
    write_pascal_context(root / "data", splits, no_person=("p1", "q1"))
    return _train(root, "pascal_hrnet18_512x512_100ep", root / "data", "mtl", PASCAL_TASKS, PASCAL_INPUT)


# ---- independent per-image metrics --------------------------------------------------------------------------


def _outputs(run, index: int) -> dict[str, torch.Tensor]:
    sample = run.dataset[index]
    with torch.no_grad():
        return run.model(sample["image"].unsqueeze(0))


def _nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a label map as the release (cv2 INTER_NEAREST): source index floor(i * in / out)."""
    rows = (np.arange(size[0]) * labels.shape[0]) // size[0]
    cols = (np.arange(size[1]) * labels.shape[1]) // size[1]
    return labels[rows][:, cols]


def _miou(pred: np.ndarray, target: np.ndarray, n: int) -> float:
    """mIoU of one image over all n classes (0 for an empty union), label 255 ignored; NaN without a valid
    pixel."""
    valid = target != 255
    if not valid.any():
        return math.nan
    p, t = pred[valid], target[valid]
    ious = []
    for k in range(n):
        union = np.sum((p == k) | (t == k))
        ious.append(np.sum((p == k) & (t == k)) / union if union else 0.0)
    return 100.0 * float(np.mean(ious))


def _hand_label_miou(run, index: int, task: str, n: int) -> float:
    target = run.dataset[index][task].numpy()
    h, w = run.dataset[index]["meta"]["size"]
    pred = _nearest(_outputs(run, index)[task].argmax(1)[0].numpy(), (h, w))
    return _miou(pred, target[:h, :w], n)


def _hand_saliency_miou(run, index: int) -> float:
    """Max over the 15 thresholds 0.20, 0.25, ..., 0.90 of the IoU of (p > θ) with the mask (IoU 1 when both
    are empty); p = sigmoid of the output resized bilinearly (pixel centres) to the original size."""
    sample = run.dataset[index]
    h, w = sample["meta"]["size"]
    prob = torch.sigmoid(_outputs(run, index)["saliency"].double())
    p = F.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    gt = sample["saliency"][0, :h, :w].numpy() >= 0.5
    ious = []
    for theta in np.linspace(0.2, 0.9, 15):
        fg = p > theta
        union = np.sum(fg | gt)
        ious.append(np.sum(fg & gt) / union if union else 1.0)
    return 100.0 * max(ious)


def _hand_rmse(run, index: int) -> float:
    p = _outputs(run, index)["depth"][0, 0].double().numpy()
    t = run.dataset[index]["depth"][0].double().numpy()
    valid = t > 0
    p = np.where(p <= 0, 1e-9, p)  # the release's clamp
    return float(np.sqrt(np.mean((p[valid] - t[valid]) ** 2)))


def _hand_normals_mean(run, index: int) -> float:
    """Mean angle (degrees) between the unit prediction and the target over the valid (non-zero) pixels."""
    p = _outputs(run, index)["normals"][0].double().numpy()
    t = run.dataset[index]["normals"].double().numpy()
    p = p / np.linalg.norm(p, axis=0, keepdims=True)
    norm = np.linalg.norm(t, axis=0)
    valid = norm > 0.5
    dot = np.clip(np.sum(p * t / np.where(valid, norm, 1.0), axis=0)[valid], -1.0, 1.0)
    return float(np.degrees(np.arccos(dot)).mean())


def _value(title: str) -> float:
    m = re.search(r"\n\S+ (-?[\d.]+|n/a)", title)
    assert m, title
    return math.nan if m.group(1) == "n/a" else float(m.group(1))


def _panel(plot, r: int, c: int) -> np.ndarray:
    """The array a panel shows (RGB H×W×3 for labels and normals, the values for colour-mapped maps)."""
    (im,) = plot.axes[r][c].images
    return np.ma.getdata(im.get_array())


def _cmap(plot, r: int, c: int) -> str:
    (im,) = plot.axes[r][c].images
    return im.get_cmap().name


def _legends(plot) -> dict[str, list[tuple[str, tuple]]]:
    """Each legend's title -> (label, RGB) of its entries."""
    out = {}
    for leg in plot.figure.legends:
        handles = leg.legend_handles
        out[leg.get_title().get_text()] = [
            (t.get_text(), tuple(np.round(h.get_facecolor()[:3], 6))) for t, h in zip(leg.get_texts(), handles)
        ]
    return out


# ---- NYUD ---------------------------------------------------------------------------------------------------


def test_show_nyud_panels_and_per_image_metrics(nyud_run):
    run_dir, _ = nyud_run
    (run,) = load_runs([run_dir])
    assert run.cfg.data.dataset == "nyud" and run.exp.tasks == NYUD_TASKS and len(run.dataset) == 2
    data = collect([run], "val", n=8)  # more than the split has: every image
    plot = show_figure(data, dict(run.exp.spec.num_classes))
    titles = plot.titles()
    # image + semseg (GT, mtinet) + depth (GT, mtinet, |error|) + normals (GT, mtinet) + edge (GT, mtinet)
    assert len(titles) == 2 and all(len(r) == 1 + 2 + 3 + 2 + 2 for r in titles)
    assert plot.figure.get_suptitle() == "nyud val"
    for i, row in enumerate(titles):
        assert row[0] == f"synthetic_val_{i:05d}" == data.rows[i].name
        assert [row[c] for c in (1, 3, 6, 8)] == ["semseg GT", "depth GT", "normals GT", "edge GT"]
        assert row[2].startswith("mtinet\nmIoU ") and row[4].startswith("mtinet\nrmse ") and row[4].endswith(" m")
        assert row[5].startswith("mtinet |err|\nrmse ") and row[7].startswith("mtinet\nmean ")
        assert row[7].endswith(" deg") and row[9].startswith("mtinet\nodsF ")
        hand = {
            "semseg": _hand_label_miou(run, i, "semseg", 40),
            "depth": _hand_rmse(run, i),
            "normals": _hand_normals_mean(run, i),
        }
        values = {t: data.rows[i].tasks[t].values[0] for t in NYUD_TASKS}
        for t, v in hand.items():
            assert values[t] == pytest.approx(v, rel=1e-6, abs=1e-9), t
        assert _value(row[2]) == pytest.approx(hand["semseg"], abs=0.006)
        assert _value(row[4]) == _value(row[5]) == pytest.approx(hand["depth"], abs=6e-4)
        assert _value(row[7]) == pytest.approx(hand["normals"], abs=0.006)
        assert 0.0 <= values["edge"] <= 100.0 and _value(row[9]) == pytest.approx(values["edge"], abs=0.006)
        # panel kinds: semseg RGB in the palette, depth and |error| colour-mapped, normals RGB, edge grey
        target = data.rows[i].tasks["semseg"].target
        gt_rgb = _panel(plot, i, 1)
        assert gt_rgb.shape == (*NYUD_HW, 3)
        np.testing.assert_allclose(gt_rgb[target != 255], palette(40)[target[target != 255]])
        assert (gt_rgb[target == 255] == GREY).all()
        assert [_cmap(plot, i, c) for c in (3, 4, 5, 9)] == ["viridis", "viridis", "magma", "gray"]
        normals = data.rows[i].tasks["normals"].preds[0]
        np.testing.assert_allclose(_panel(plot, i, 7), (normals.transpose(1, 2, 0) + 1) / 2, atol=1e-6)
    assert {"depth (m)", "|error| (m)"} <= {ax.get_xlabel() for ax in plot.figure.axes}
    legend = _legends(plot)
    assert list(legend) == ["semseg"] and legend["semseg"][-1] == ("ignored / invalid", tuple(GREY))
    # NYUD's 40 class names label the legend (class k: NYU40_CLASSES[k])
    from mtbench.data.nyud import NYU40_CLASSES

    labels = [label for label, _ in legend["semseg"][:-1]]
    assert labels and all(lab == f"{lab.split(' ')[0]} {NYU40_CLASSES[int(lab.split(' ')[0])]}" for lab in labels)


def test_affinity_nyud_mtinet_every_scale(nyud_run, tmp_path, capsys):
    run_dir, _ = nyud_run
    main(["affinity", str(run_dir), "--images", "2", "--out", str(tmp_path / "aff")])
    assert "distilled semseg–depth: " in capsys.readouterr().out
    data = json.loads((tmp_path / "aff" / "affinity.json").read_text())
    assert data["model"] == "mtinet" and data["dataset"] == "nyud" and data["images"] == [0, 1]
    keys = [f"{stage} 1/{s}" for stage in ("initial", "distilled") for s in (32, 16, 8, 4)] + ["head 1/4"]
    assert list(data["scales"]) == keys
    for key, entry in data["scales"].items():
        assert entry["tasks"] == NYUD_TASKS, key
        _check_cka(entry, key)
        if not key.startswith("head"):
            s = int(key.split("/")[1])
            assert entry["channels"] == dict.fromkeys(NYUD_TASKS, HRNET18[s])
            assert entry["samples"] == 2 * min(256, (NYUD_HW[0] // s) * (NYUD_HW[1] // s)), key
    assert (tmp_path / "aff" / "affinity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _check_cka(entry: dict, key: str) -> None:
    m, k = entry["cka"], len(entry["tasks"])
    assert len(m) == k and all(len(row) == k for row in m), key
    for i in range(k):
        assert m[i][i] == pytest.approx(1.0, abs=1e-6), key
        for j in range(k):
            assert m[i][j] == m[j][i] and 0.0 <= m[i][j] <= 1.0 + 1e-6, key


# ---- PASCAL-Context -----------------------------------------------------------------------------------------


def test_show_pascal_panels_metrics_and_ignored_pixels(pascal_run):
    run_dir, record_json = pascal_run
    (run,) = load_runs([run_dir])
    assert run.cfg.data.dataset == "pascal_context" and run.exp.tasks == PASCAL_TASKS
    assert run.dataset[0]["image"].shape[-2:] == PASCAL_INPUT and run.dataset[0]["meta"]["size"] == [12, 16]
    data = collect([run], "val", n=2)
    plot = show_figure(data, dict(run.exp.spec.num_classes))
    titles = plot.titles()
    assert len(titles) == 2 and all(len(r) == 1 + 2 * len(PASCAL_TASKS) for r in titles)  # GT + mtl per task
    primary = {"semseg": "mIoU", "human_parts": "mIoU", "saliency": "mIoU", "normals": "mean", "edge": "odsF"}
    for i, row in enumerate(titles):
        assert row[0] == ("q0", "q1")[i]
        for k, t in enumerate(PASCAL_TASKS):
            assert row[1 + 2 * k] == f"{t} GT" and row[2 + 2 * k].startswith(f"mtl\n{primary[t]} ")
        values = {t: data.rows[i].tasks[t].values[0] for t in PASCAL_TASKS}
        assert values["semseg"] == pytest.approx(_hand_label_miou(run, i, "semseg", 21), abs=1e-9)
        assert values["saliency"] == pytest.approx(_hand_saliency_miou(run, i), abs=1e-9)
        assert _value(row[6]) == pytest.approx(values["saliency"], abs=0.006)
        assert all(data.rows[i].tasks[t].target.shape[-2:] == PASCAL_SIZE for t in PASCAL_TASKS)
        assert data.rows[i].image.shape == (*PASCAL_SIZE, 3)
    # human parts: q0 has a person (parts 0, 1, 3, 6), q1 none: its parts all ignored, metric n/a
    hp = [r.tasks["human_parts"] for r in data.rows]
    assert hp[0].values[0] == pytest.approx(_hand_label_miou(run, 0, "human_parts", 7), abs=1e-9)
    assert set(np.unique(hp[0].target)) == {0, 1, 3, 6} and (hp[1].target == 255).all()
    assert math.isnan(hp[1].values[0]) and titles[1][4] == "mtl\nmIoU n/a"
    # only q0 has valid human-part pixels: the run's recorded split mIoU is q0's own
    record = json.loads(record_json.read_text())
    assert hp[0].values[0] == pytest.approx(record["metrics"]["human_parts"]["mIoU"], abs=1e-9)
    # ignored pixels grey, and only they: human parts (GT and prediction) of q1 entirely; no grey at all in
    # q0's human-part panels nor in the semseg panels (no class is grey: tab20's grey was class 14's)
    for c in (3, 4):
        assert (_panel(plot, 1, c) == GREY).all()
    for r, c in ((0, 1), (0, 2), (0, 3), (0, 4), (1, 1), (1, 2)):
        rgb = _panel(plot, r, c)
        assert (rgb.max(axis=-1) - rgb.min(axis=-1) > 0.05).all(), (r, c)
    np.testing.assert_allclose(_panel(plot, 0, 3), palette(7)[hp[0].target])
    np.testing.assert_allclose(_panel(plot, 0, 4), palette(7)[hp[0].preds[0]])
    # saliency and edge grey maps of the values; normals RGB, the invalid ones (LabelMap 1, columns 8..) grey
    for r in range(2):
        for c, t in ((5, "saliency"), (6, "saliency"), (9, "edge"), (10, "edge")):
            st = data.rows[r].tasks[t]
            assert _cmap(plot, r, c) == "gray"
            np.testing.assert_allclose(_panel(plot, r, c), (st.target if c in (5, 9) else st.preds[0])[0])
        gt_normals = _panel(plot, r, 7)
        assert (gt_normals[:, 8:] == GREY).all()
        np.testing.assert_allclose(gt_normals[:, :8], np.broadcast_to([128 / 255, 128 / 255, 1.0], (12, 8, 3)))
        pred_normals = data.rows[r].tasks["normals"].preds[0]
        np.testing.assert_allclose(_panel(plot, r, 8), (pred_normals.transpose(1, 2, 0) + 1) / 2, atol=1e-6)
    assert (data.rows[0].tasks["edge"].target[0][:, 7] == 1).all()  # SEISM's edge ground truth: column 7
    # one legend per label task: the classes shown in the palette, then the ignored grey
    legend = _legends(plot)
    assert list(legend) == ["semseg", "human_parts"]
    shown = sorted({int(k) for p in (hp[0].target, hp[0].preds[0]) for k in np.unique(p)})
    names = ("background", "head", "torso", "upper arm", "lower arm", "upper leg", "lower leg")
    assert legend["human_parts"] == [(f"{k} {names[k]}", tuple(np.round(palette(7)[k], 6))) for k in shown] + [
        ("ignored / invalid", tuple(GREY))
    ]


def test_show_pascal_worst_and_record_json(pascal_run, tmp_path, capsys):
    run_dir, record_json = pascal_run
    assert record_json.parent.parent.parent == run_dir.parent.parent / "results"  # results/<dataset>/<model>/
    by_folder = collect(load_runs([run_dir]), "val", n=2)
    (from_record,) = load_runs([record_json])
    assert from_record.path.resolve() == run_dir.resolve()
    by_record = collect([from_record], "val", n=2)
    for a, b in zip(by_folder.rows, by_record.rows, strict=True):
        for t in PASCAL_TASKS:
            np.testing.assert_equal(a.tasks[t].values, b.tasks[t].values)
            np.testing.assert_array_equal(a.tasks[t].preds[0], b.tasks[t].preds[0])
    # --worst human_parts: q1 has no person (NaN) and comes last
    worst = collect([from_record], "val", n=2, worst="human_parts")
    assert [r.name for r in worst.rows] == ["q0", "q1"] and "worst" in worst.note
    out = tmp_path / "g.png"
    main(["show", str(record_json), "--n", "2", "--worst", "saliency", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {out}" in capsys.readouterr().out
    sal = [r.tasks["saliency"].values[0] for r in by_folder.rows]
    order = [r.name for r in collect([from_record], "val", n=2, worst="saliency").rows]
    assert order == [by_folder.rows[i].name for i in sorted(range(2), key=lambda i: (sal[i], i))]


def test_affinity_pascal_mtl_from_record(pascal_run, tmp_path, capsys):
    run_dir, record_json = pascal_run
    main(["affinity", str(record_json), "--images", "2", "--out", str(tmp_path / "aff")])
    out = capsys.readouterr().out
    assert "head human_parts–saliency: " in out
    data = json.loads((tmp_path / "aff" / "affinity.json").read_text())
    assert data["run"] == run_dir.name and data["model"] == "mtl" and data["dataset"] == "pascal_context"
    assert list(data["scales"]) == ["head 1/4"]
    entry = data["scales"]["head 1/4"]
    assert entry["tasks"] == PASCAL_TASKS and entry["samples"] == 2 * (32 // 4) * (32 // 4)
    assert entry["channels"] == dict.fromkeys(PASCAL_TASKS, 270) and "note" in entry  # 128 samples <= 270
    _check_cka(entry, "head 1/4")
