"""Edge evaluation protocols (bsds / seism / release): hand-computed counts and scores per protocol, the
`mtbench edges` defaults and output, and agreement of `mtbench edges --protocol bsds` with an
independent BSDS implementation written here (skimage thinning, networkx matching, collect_eval_bdry)."""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.morphology import thin as sk_thin
from typer.testing import CliRunner

from mtbench.cli import app, main
from mtbench.errors import UsageError
from mtbench.metrics.boundary import BoundaryMetric, EdgeEvalConfig, evaluate_folder, evaluate_image
from mtbench.metrics.boundary.evaluate import PROTOCOLS, make_thresholds, seg_to_boundary
from mtbench.metrics.boundary.scores import average_precision, precision_recall, summarize
from mtbench.metrics.boundary.thin import thin

# --- per-image counts: ground truth thinned or not, >= or > ----------------------------------------


def test_thick_ground_truth_kept_by_bsds_thinned_by_seism_and_release():
    gt = np.zeros((8, 14), bool)
    gt[3:5, 2:12] = True  # a 2-pixel-thick line: 20 pixels
    thinned = np.zeros_like(gt)
    thinned[4, 2:11] = True  # bwmorph 'thin': one row left, one end pixel eroded (9 pixels)
    np.testing.assert_array_equal(thin(gt), thinned)
    np.testing.assert_array_equal(sk_thin(gt), thinned)
    pred = np.zeros(gt.shape)
    pred[3, 2:12] = 0.9  # a 1-pixel line on the upper row of the GT: 10 pixels
    radius = 1.5
    cfg = {"max_dist": radius / math.hypot(*gt.shape), "thresholds": (0.5,)}
    # bsds: 10 predicted pixels, each paired with one of the 20 GT pixels: P = 10/10, R = 10/20
    bsds = evaluate_image(pred, gt, EdgeEvalConfig(**cfg, protocol="bsds"))
    np.testing.assert_array_equal(bsds, [[10, 10, 10, 20]])
    # seism/release: 9 GT pixels after thinning, all within 1.5 px of a distinct predicted pixel
    for name in ("seism", "release"):
        np.testing.assert_array_equal(evaluate_image(pred, gt, EdgeEvalConfig(**cfg, protocol=name)), [[9, 10, 9, 9]])


def test_pixel_exactly_at_a_threshold_is_on_for_bsds_and_release_off_for_seism():
    gt = np.zeros((14, 14), bool)
    gt[3, 2:12] = gt[10, 2:12] = True  # two 1-pixel lines, 20 GT pixels (thinning keeps them)
    pred = np.zeros(gt.shape)
    pred[3, 2:12] = 153 / 255  # = 0.6 exactly, as an 8-bit PNG stores it
    pred[10, 2:12] = 51 / 255  # = 0.2 exactly
    t = make_thresholds(4)  # 0.2, 0.4, 0.6, 0.8 (exact decimals)
    assert t.tolist() == [0.2, 0.4, 0.6, 0.8] and 51 / 255 == 0.2 and 153 / 255 == 0.6
    cfg = {"max_dist": 1.0 / math.hypot(*gt.shape), "thresholds": tuple(t.tolist())}
    inclusive = [[20, 20, 20, 20], [10, 10, 10, 20], [10, 10, 10, 20], [0, 0, 0, 20]]  # pred >= t
    strict = [[10, 10, 10, 20], [10, 10, 10, 20], [0, 0, 0, 20], [0, 0, 0, 20]]  # pred > t
    for name, expect in (("bsds", inclusive), ("release", inclusive), ("seism", strict)):
        np.testing.assert_array_equal(evaluate_image(pred, gt, EdgeEvalConfig(**cfg, protocol=name)), expect)


def test_thinning_an_already_thin_ground_truth_changes_nothing():
    """The datasets hand the metric thin(seg2bmap(L)) at evaluation time; seism/release thin it again,
    which must be a no-op (bwmorph 'thin', Inf is idempotent), so the counts are those of the raw map."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        h, w = rng.integers(12, 40, 2)
        seeds = rng.integers(0, [h, w], size=(int(rng.integers(2, 7)), 2))
        yy, xx = np.mgrid[:h, :w]
        labels = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=-1)
        raw = seg_to_boundary(labels)
        once = thin(raw)
        np.testing.assert_array_equal(thin(once), once)
        pred = np.clip(gaussian_filter(raw.astype(float), 1.0) * 2 + rng.random((h, w)) * 0.3, 0, 1)
        for name in ("seism", "release"):
            cfg = EdgeEvalConfig(max_dist=0.05, thresholds=tuple(make_thresholds(9).tolist()), protocol=name)
            np.testing.assert_array_equal(evaluate_image(pred, raw, cfg), evaluate_image(pred, once, cfg))


# --- scores: interpolated vs plain ODS, AP, OIS rules ------------------------------------------------


def test_ods_interpolated_for_bsds_plain_maximum_for_seism_and_release():
    # two thresholds: (P, R) = (1/2, 1) and (1, 1/2), F = 2/3 at both
    counts = np.array([[5, 10, 10, 10], [5, 5, 5, 10]])
    t = (0.3, 0.6)
    out = {}
    for name in PROTOCOLS:
        m = BoundaryMetric(max_dist=0.01, thresholds=list(t), protocol=name)
        m.add_image_counts(counts)
        out[name] = m.compute()
    # along the segment p = 1/2 + d/2, r = 1 - d/2: F = 4pr/3, best at d = 49/99 (or 50/99) of linspace(0, 1, 100)
    f_interp = 2 * 149 * 148 / (198 * 297)
    assert out["bsds"]["odsF"] == pytest.approx(100 * f_interp, abs=1e-9)
    t_best = out["bsds"]["ods_threshold"]  # the two points tie exactly; rounding picks one
    assert min(abs(t_best - (0.3 + 0.3 * k / 99)) for k in (49, 50)) < 1e-12
    assert out["bsds"]["odsF_max"] == pytest.approx(100 * 2 / 3)
    for name in ("seism", "release"):
        assert out[name]["odsF"] == pytest.approx(100 * 2 / 3) and out[name]["ods_threshold"] == 0.3
        assert out[name]["odsF_interp"] == pytest.approx(100 * f_interp)
    # OIS: the image's first best threshold (F 2/3 at both: the first), the same in every protocol
    assert all(out[n]["oisF"] == pytest.approx(100 * 2 / 3) for n in PROTOCOLS)


def test_ap_samples_recall_0_to_1_with_zero_precision_for_an_empty_dataset_map():
    # dataset curve: (P, R) = (1/2, 1), (1, 1/2), then nothing predicted anywhere: (0, 0) as BSDS
    # (cnt/(sum + (sum==0))) and SEISM's gather_measure (cnt/(sum + eps)) both compute it
    counts = np.array([[5, 10, 10, 10], [5, 5, 5, 10], [0, 0, 0, 10]])
    p, r = precision_recall(counts)
    np.testing.assert_allclose(p, [0.5, 1, 0])
    np.testing.assert_allclose(r, [1, 0.5, 0])
    # P(R) = 2R on [0, 1/2], 3/2 - R on [1/2, 1], sampled at R = 0, 0.01, ..., 1 and summed x 0.01
    expect = (sum(2 * i / 100 for i in range(51)) + sum(1.5 - i / 100 for i in range(51, 101))) / 100
    assert expect == pytest.approx(0.6275)
    assert average_precision(p, r) == pytest.approx(expect)
    for name in PROTOCOLS:
        assert summarize(np.array([0.2, 0.5, 0.8]), counts, counts[0], name)["AP"] == pytest.approx(expect)


def test_ois_totals_follow_the_protocols_empty_rules():
    no_gt = np.array([0, 7, 0, 0])  # best-threshold counts of images without any GT boundary
    seism = summarize(np.array([0.5]), no_gt[None], no_gt, "seism")
    bsds = summarize(np.array([0.5]), no_gt[None], no_gt, "bsds")
    assert (seism["ois_precision"], seism["ois_recall"], seism["oisF"]) == (0.0, 1.0, 0.0)  # SEISM general_ois
    assert (bsds["ois_precision"], bsds["ois_recall"], bsds["oisF"]) == (0.0, 0.0, 0.0)  # cnt/(sum + (sum==0))


# --- the metric: protocol(), defaults, bad input -------------------------------------------------------


def test_metric_protocol_record_and_defaults():
    from mtbench.data.spec import get_dataset_spec
    from mtbench.engine.evaluate import make_metrics

    m = BoundaryMetric()
    d = m.protocol()
    assert d["protocol"] == "release" and d["nms"] is False and d["binarise"] == "pred >= t"
    assert {"max_dist", "thresholds", "gt", "ods", "ois", "ap", "matching"} <= set(d)
    assert d["thresholds"] == "99 in [0.01, 0.99]" and "thinned" in d["gt"]
    bsds = BoundaryMetric(protocol="bsds", nms=True).protocol()
    assert bsds["protocol"] == "bsds" and bsds["nms"] is True and bsds["gt"].startswith("used as given")
    assert "interpolated" in bsds["ods"] and "NMS" in bsds["prediction"]
    assert BoundaryMetric(protocol="SEISM").protocol()["binarise"] == "pred > t"
    # the edge task's metric inside run/eval: release without NMS unless eval.options.edge says otherwise
    spec = get_dataset_spec("synthetic")
    assert make_metrics(["edge"], spec)["edge"].protocol()["protocol"] == "release"
    opt = make_metrics(["edge"], spec, {"edge": {"protocol": "bsds", "nms": True}})["edge"].protocol()
    assert (
        opt["protocol"] == "bsds" and opt["nms"] is True and opt["max_dist"] == spec.metric_options["edge"]["max_dist"]
    )
    with pytest.raises(UsageError) as e:
        make_metrics(["edge"], spec, {"edge": {"protocol": "pascal"}})
    msg = str(e.value)
    assert "eval.options.edge.protocol" in msg and "bsds, seism, release" in msg and "\n" not in msg


# --- `mtbench edges`: defaults follow the ground truth, output names the protocol --------------------


def _label_scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    seeds = rng.integers(0, [h, w], size=(int(rng.integers(3, 7)), 2))
    yy, xx = np.mgrid[:h, :w]
    return np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=-1)


def _soft_prediction(rng: np.random.Generator, boundary: np.ndarray) -> np.ndarray:
    """A soft map near ``boundary`` (shifted, of uneven strength, blurred, noisy), quantised to 8 bits."""
    b = np.roll(boundary.astype(float), tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
    strength = gaussian_filter(rng.random(b.shape), 1.5)
    strength = (strength - strength.min()) / (strength.max() - strength.min())  # varying along the curves
    soft = gaussian_filter(b * strength, 0.7) * 2.2 + rng.random(b.shape) ** 3 * 0.5
    return np.round(np.clip(soft, 0, 1) * 255).astype(np.uint8)


def _write_folders(tmp_path, n: int, seed: int, gt_kind: str, h: int = 40, w: int = 50):
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    for i in range(n):
        labels = _label_scene(rng, h, w)
        # boundary maps: label changes to the right or below (sometimes 2 pixels thick at junctions)
        bmap = np.zeros((h, w), bool)
        bmap[:, :-1] |= labels[:, 1:] != labels[:, :-1]
        bmap[:-1, :] |= labels[1:, :] != labels[:-1, :]
        Image.fromarray(_soft_prediction(rng, bmap)).save(pred_dir / f"im{i}.png")
        if gt_kind == "mat":
            savemat(gt_dir / f"im{i}.mat", {"LabelMap": labels.astype(np.uint16) + 1})
        elif gt_kind == "png":
            Image.fromarray(bmap.astype(np.uint8) * 255).save(gt_dir / f"im{i}.png")
        else:
            np.save(gt_dir / f"im{i}.npy", bmap.astype(np.uint8))
    return pred_dir, gt_dir


def _edges_json(pred_dir, gt_dir, out, *args) -> dict:
    res = CliRunner().invoke(app, ["edges", str(pred_dir), str(gt_dir), "--json", "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize("gt_kind,expect", [("png", "bsds"), ("npy", "bsds"), ("mat", "seism")])
def test_edges_default_protocol_follows_the_ground_truth(tmp_path, gt_kind, expect):
    pred_dir, gt_dir = _write_folders(tmp_path, 2, seed=5, gt_kind=gt_kind, h=24, w=30)
    args = ["--max-dist", "0.05", "--thresholds", "5"]
    out = _edges_json(pred_dir, gt_dir, tmp_path / "ev", *args)
    assert out["protocol"]["protocol"] == expect and out["protocol"]["nms"] is False
    cfg = EdgeEvalConfig(max_dist=0.05, thresholds=tuple(make_thresholds(5).tolist()), protocol=expect)
    assert out["odsF"] == pytest.approx(evaluate_folder(pred_dir, gt_dir, cfg).summary()["odsF"])
    # the plain output names the protocol, its GT handling, comparison, ODS rule and NMS
    res = CliRunner().invoke(app, ["edges", str(pred_dir), str(gt_dir), "--out", str(tmp_path / "ev"), *args])
    assert res.exit_code == 0, res.output
    first = res.stdout.splitlines()[0]
    assert first.startswith(f"protocol {expect} (default for this ground truth): ")
    assert (
        "GT as given, pred >= t, ODS interpolated max" if expect == "bsds" else "GT thinned, pred > t, ODS plain max"
    ) in first and "NMS off" in first
    # an explicit choice wins, --nms is honoured and recorded
    rel = _edges_json(pred_dir, gt_dir, tmp_path / "ev", *args, "--protocol", "release", "--nms")
    assert rel["protocol"]["protocol"] == "release" and rel["protocol"]["nms"] is True
    nms_cfg = EdgeEvalConfig(max_dist=0.05, thresholds=cfg.thresholds, nms=True, protocol="release")
    assert rel["odsF"] == pytest.approx(evaluate_folder(pred_dir, gt_dir, nms_cfg).summary()["odsF"])


def test_edges_mixed_ground_truth_and_unknown_protocol_are_one_line_usage_errors(tmp_path, capsys):
    pred_dir, gt_dir = _write_folders(tmp_path, 2, seed=6, gt_kind="npy", h=20, w=20)
    from scipy.io import savemat

    (gt_dir / "im1.npy").unlink()
    savemat(gt_dir / "im1.mat", {"LabelMap": np.ones((20, 20), np.uint16)})
    for extra, needle in (([], "--protocol bsds|seism|release"), (["--protocol", "nyud"], "--protocol 'nyud'")):
        with pytest.raises(SystemExit) as e:
            main(["edges", str(pred_dir), str(gt_dir), "--out", str(tmp_path / "ev"), *extra])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1
        if extra:
            assert "valid: bsds, seism, release" in err


# --- agreement with an independent BSDS implementation -------------------------------------------------


def _ref_counts(pb: np.ndarray, gt: np.ndarray, thresholds: list[float], max_dist: float) -> np.ndarray:
    """BSDS evaluation_bdry_image, one ground truth: per threshold (cntR, sumR, cntP, sumP) with
    bmap = thin(pb >= t) (skimage), GT as given, a maximum matching of pixel pairs within max_dist x diagonal
    (networkx Hopcroft-Karp on the explicit pair graph)."""
    radius = max_dist * math.sqrt(gt.shape[0] ** 2 + gt.shape[1] ** 2)
    g_pts = np.argwhere(gt)
    rows = []
    for t in thresholds:
        bmap = sk_thin(pb >= t)
        p_pts = np.argwhere(bmap)
        graph = nx.Graph()
        left = [("p", i) for i in range(len(p_pts))]
        graph.add_nodes_from(left)
        graph.add_nodes_from(("g", j) for j in range(len(g_pts)))
        if len(p_pts) and len(g_pts):
            d2 = ((p_pts[:, None, :] - g_pts[None, :, :]) ** 2).sum(-1)
            ii, jj = np.nonzero(d2 <= radius * radius)
            graph.add_edges_from((("p", int(a)), ("g", int(b))) for a, b in zip(ii, jj))
        matching = nx.bipartite.hopcroft_karp_matching(graph, top_nodes=left)
        matched = sum(1 for k in matching if k[0] == "p")
        rows.append((matched, int(gt.sum()), matched, int(bmap.sum())))
    return np.array(rows, dtype=float)


def _ref_fmeasure(r, p):
    return 2 * p * r / (p + r + ((p + r) == 0))


def _ref_collect(thresholds: list[float], per_image: list[np.ndarray]) -> dict[str, float]:
    """BSDS collect_eval_bdry: dataset R/P/F, maxF interpolation, OIS from each image's first best F, Area_PR."""

    def rp(c):
        cnt_r, sum_r, cnt_p, sum_p = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
        return cnt_r / (sum_r + (sum_r == 0)), cnt_p / (sum_p + (sum_p == 0))

    ois = np.zeros(4)
    for c in per_image:
        r, p = rp(c)
        f = _ref_fmeasure(r, p)
        ois += c[int(np.flatnonzero(f == f.max())[0])]
    total = sum(per_image)
    r, p = rp(total)
    best_f = _ref_fmeasure(r[0], p[0])
    for i in range(1, len(thresholds)):
        for d in np.linspace(0, 1, 100):
            f = _ref_fmeasure(r[i] * d + r[i - 1] * (1 - d), p[i] * d + p[i - 1] * (1 - d))
            if f > best_f:
                best_f = f
    r_max, p_max = rp(ois)
    first_of = {}
    for k, rv in enumerate(r):
        first_of.setdefault(float(rv), k)
    ru = np.array(sorted(first_of))
    pu = np.array([p[first_of[v]] for v in ru])
    area = 0.0
    if len(ru) > 1:
        for ri in np.arange(101) / 100:
            if ru[0] <= ri <= ru[-1]:
                area += float(np.interp(ri, ru, pu)) * 0.01
    return {"odsF": float(best_f), "oisF": float(_ref_fmeasure(r_max, p_max)), "AP": area}


def test_edges_bsds_agrees_with_an_independent_bsds_implementation(tmp_path):
    pred_dir, gt_dir = _write_folders(tmp_path, 8, seed=11, gt_kind="png")
    thresholds = [i / 25 for i in range(1, 25)]  # 0.2, 0.4, 0.6, 0.8 coincide with 8-bit values 51k/255
    max_dist = 0.04  # 2.56 px on 40x50: r^2 = 6.56, no integer distance on the edge
    out = _edges_json(
        pred_dir,
        gt_dir,
        tmp_path / "ev",
        "--protocol",
        "bsds",
        "--max-dist",
        str(max_dist),
        "--thresholds",
        ",".join(f"{t:g}" for t in thresholds),
    )
    assert out["protocol"]["protocol"] == "bsds" and out["n_images"] == 8
    per_image = []
    for i in range(8):
        with Image.open(pred_dir / f"im{i}.png") as im:
            pb = np.asarray(im, dtype=np.float64) / 255.0
        with Image.open(gt_dir / f"im{i}.png") as im:
            gt = np.asarray(im) > 0
        per_image.append(_ref_counts(pb, gt, thresholds, max_dist))
    ref = _ref_collect(thresholds, per_image)
    assert 0.3 < ref["odsF"] < 0.95  # a non-trivial curve
    for key in ("odsF", "oisF", "AP"):
        assert abs(out[key] / 100 - ref[key]) <= 0.005, (key, out[key], ref[key])
        assert out[key] / 100 == pytest.approx(ref[key], abs=1e-9)  # in fact the same counts, exactly
