"""Boundary evaluation (ODS/OIS/AP): thinning, matching, counts, scores, metric, folder and CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.morphology import thin as sk_thin

from mtbench.errors import DataError, UsageError
from mtbench.metrics.boundary import BoundaryMetric, EdgeEvalConfig, evaluate_folder, evaluate_image, write_pr_curve
from mtbench.metrics.boundary.evaluate import make_thresholds, seg_to_boundary
from mtbench.metrics.boundary.match import BoundaryMatcher, count_point_matches
from mtbench.metrics.boundary.nms import edge_nms
from mtbench.metrics.boundary.scores import average_precision, interpolated_max_f, precision_recall, summarize
from mtbench.metrics.boundary.thin import thin


def _cfg(radius_px: float, size: tuple[int, int], k: int = 9, nms: bool = False) -> EdgeEvalConfig:
    """Config whose matching radius is ``radius_px`` pixels on an image of ``size``."""
    diag = math.hypot(*size)
    return EdgeEvalConfig(max_dist=radius_px / diag, thresholds=tuple(make_thresholds(k).tolist()), nms=nms)


def _brute_force_matching(pred: list[tuple[int, int]], gt: list[tuple[int, int]], r: float) -> int:
    """Largest one-to-one pairing within distance r, by trying every assignment of predicted pixels."""
    best = 0

    def rec(i: int, used: frozenset, size: int) -> None:
        nonlocal best
        if size + (len(pred) - i) <= best:
            return
        if i == len(pred):
            best = max(best, size)
            return
        for j, g in enumerate(gt):
            if j not in used and math.dist(pred[i], g) <= r:
                rec(i + 1, used | {j}, size + 1)
        rec(i + 1, used, size)

    rec(0, frozenset(), 0)
    return best


# --- thinning -----------------------------------------------------------------------------------


def test_thin_equals_skimage_on_random_images():
    rng = np.random.default_rng(0)
    from scipy import ndimage as ndi

    for i in range(60):
        h, w = rng.integers(1, 30, 2)
        a = rng.random((h, w)) < rng.random()
        if i % 2:
            a = ndi.binary_dilation(a, iterations=2)
        np.testing.assert_array_equal(thin(a), sk_thin(a))


def test_thin_idempotent_and_thick_bar():
    bar = np.zeros((20, 30), bool)
    bar[5:12, 3:27] = True
    once = thin(bar)
    np.testing.assert_array_equal(thin(once), once)
    np.testing.assert_array_equal(once, sk_thin(bar))
    assert (once.sum(axis=0)[6:24] == 1).all() and once[:, :6].sum() == 0  # one-pixel line, ends eroded
    assert thin(np.zeros((4, 5))).sum() == 0 and thin(np.zeros((0, 3))).shape == (0, 3)


# --- matching -----------------------------------------------------------------------------------


def test_matching_equals_brute_force_on_small_random_cases():
    rng = np.random.default_rng(1)
    for _ in range(150):
        h, w = rng.integers(2, 8, 2)
        gt = rng.random((h, w)) < 0.3
        pred = rng.random((h, w)) < 0.3
        r = float(rng.choice([0.0, 1.0, 1.5, 2.2, 3.0]))
        p_pts, g_pts = [tuple(p) for p in np.argwhere(pred)], [tuple(g) for g in np.argwhere(gt)]
        if len(p_pts) > 7 or len(g_pts) > 7:
            continue
        expect = _brute_force_matching(p_pts, g_pts, r)
        assert BoundaryMatcher(gt, r).count(pred) == expect
        assert count_point_matches(np.argwhere(pred), np.argwhere(gt), r) == expect
        assert BoundaryMatcher(pred, r).count(gt) == expect  # symmetric


def _random_csr(rng: np.random.Generator, n1: int, n2: int, degree: float) -> tuple[np.ndarray, np.ndarray]:
    rows = [np.sort(rng.choice(n2, size=min(n2, rng.poisson(degree)), replace=False)) for _ in range(n1)]
    ptr = np.zeros(n1 + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=ptr[1:])
    return ptr, np.concatenate(rows + [np.zeros(0)]).astype(np.int64)


def test_compiled_matcher_is_built():
    from mtbench.metrics.boundary import match

    assert match._compiled_matching is not None, (
        "mtbench.metrics._hopcroft_karp was not built (C compiler missing at `pip install -e .`?): "
        "the boundary metric falls back to SciPy's maximum_flow, ~10x slower"
    )


def _brute_force_graph_matching(rows: list[list[int]]) -> int:
    """Largest matching of a small bipartite graph (left node u -> right nodes rows[u]), exhaustively."""

    def rec(u: int, used: frozenset) -> int:
        if u == len(rows):
            return 0
        best = rec(u + 1, used)
        for v in rows[u]:
            if v not in used:
                best = max(best, 1 + rec(u + 1, used | {v}))
        return best

    return rec(0, frozenset())


def _ladder(levels: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """A layered ladder (two left nodes per level, each adjacent to the right nodes of its own and the
    previous level; one right node short): long alternating paths, the shape of two parallel curves."""
    rows = [
        [2 * lv + j for j in (0, 1) if 2 * lv + j < 2 * levels - 1] + [2 * lv - 2 + j for j in (0, 1) if lv]
        for lv in range(levels)
        for _ in (0, 1)
    ]
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=ptr[1:])
    return len(rows), 2 * levels - 1, ptr, np.concatenate([np.sort(r) for r in rows]).astype(np.int64)


def test_compiled_matcher_equals_flow_and_brute_force(monkeypatch):
    from mtbench.metrics.boundary.match import _flow_matching, bipartite_matching_size, matcher_name

    rng = np.random.default_rng(7)
    for i in range(300):
        small = i < 150
        n1, n2 = (int(x) for x in rng.integers(1, 8 if small else 400, 2))
        ptr, cols = _random_csr(rng, n1, n2, degree=float(rng.choice([0.5, 1.5, 3.0, 8.0])))
        got = bipartite_matching_size(n1, n2, ptr, cols)
        assert got == (_flow_matching(n1, n2, ptr, cols) if len(cols) else 0)
        if small:
            assert got == _brute_force_graph_matching([cols[ptr[u] : ptr[u + 1]].tolist() for u in range(n1)])
    n1, n2, ptr, cols = _ladder(60)  # 120 left, 119 right: the answer is n2, found at once
    assert bipartite_matching_size(n1, n2, ptr, cols) == n2 == _flow_matching(n1, n2, ptr, cols)
    ptr, cols = _random_csr(np.random.default_rng(8), 50, 60, 2.0)
    compiled = bipartite_matching_size(50, 60, ptr, cols)
    monkeypatch.setenv("MTBENCH_MATCHER", "scipy")  # the fallback path, forced: same count
    assert matcher_name().startswith("scipy") and bipartite_matching_size(50, 60, ptr, cols) == compiled


def test_compiled_matcher_rejects_malformed_graphs():
    from mtbench.metrics._hopcroft_karp import max_matching

    ptr, cols = np.array([0, 1, 2]), np.array([0, 1])
    assert max_matching(2, 2, ptr, cols) == 2
    with pytest.raises(ValueError, match="n_right"):
        max_matching(2, 1, ptr, cols)
    with pytest.raises(ValueError, match="n_left"):
        max_matching(3, 2, ptr, cols)
    with pytest.raises(ValueError, match="non-decreasing"):
        max_matching(2, 2, np.array([0, 3, 2]), cols)
    with pytest.raises(TypeError, match="int64"):
        max_matching(2, 2, ptr.astype(np.int32), cols)


def test_matching_is_one_to_one():
    gt = np.zeros((9, 9), bool)
    gt[4, 4] = True
    pred = np.zeros_like(gt)
    pred[4, 3] = pred[4, 5] = True  # two predictions, both within 1.5 px of the single GT pixel
    assert BoundaryMatcher(gt, 1.5).count(pred) == 1
    counts = evaluate_image(pred.astype(float), gt, _cfg(1.5, gt.shape, k=1))
    np.testing.assert_array_equal(counts[0], [1, 2, 1, 1])


# --- per-image counts ---------------------------------------------------------------------------


def test_perfect_prediction_gives_f_one():
    seg = np.zeros((40, 50), int)
    seg[10:30, 15:40] = 1
    gt = seg_to_boundary(seg)
    counts = evaluate_image(gt.astype(float), gt, _cfg(2.0, gt.shape))
    n = int(thin(gt).sum())
    np.testing.assert_array_equal(counts, np.tile([n, n, n, n], (9, 1)))
    s = summarize(np.array(make_thresholds(9)), counts, counts[0])
    assert s["odsF"] == pytest.approx(1.0) and s["oisF"] == pytest.approx(1.0)


@pytest.mark.parametrize("shift,matched", [(0, 30), (2, 30), (3, 30), (4, 0)])
def test_shift_within_tolerance_matches(shift, matched):
    gt = np.zeros((30, 40), bool)
    gt[:, 10] = True
    pred = np.zeros((30, 40))
    pred[:, 10 + shift] = 0.8
    counts = evaluate_image(pred, gt, _cfg(3.0, gt.shape, k=3))  # thresholds 0.25, 0.5, 0.75
    np.testing.assert_array_equal(counts[:, 0], [matched] * 3)
    np.testing.assert_array_equal(counts[:, 1], [30] * 3)
    np.testing.assert_array_equal(counts[:, 3], [30] * 3)


def test_hand_built_counts_per_threshold():
    gt = np.zeros((20, 20), bool)
    gt[5, 2:12] = True  # 10 GT pixels
    pred = np.zeros((20, 20))
    pred[5, 2:7] = 0.9  # 5 correct, strong
    pred[15, 10:13] = 0.4  # 3 false positives, weak, far away
    counts = evaluate_image(pred, gt, _cfg(1.0, gt.shape, k=3))  # thresholds 0.25, 0.5, 0.75
    np.testing.assert_array_equal(counts, [[5, 8, 5, 10], [5, 5, 5, 10], [5, 5, 5, 10]])
    p, r = precision_recall(counts)
    np.testing.assert_allclose(p, [5 / 8, 1, 1])
    np.testing.assert_allclose(r, [0.5, 0.5, 0.5])


def test_threshold_comparison_and_empty_maps():
    gt = np.zeros((10, 10), bool)
    gt[3, 1:9] = True
    pred = np.zeros((10, 10))
    pred[3, 1:9] = 0.5
    strict = evaluate_image(pred, gt, EdgeEvalConfig(max_dist=0.1, thresholds=(0.5,), protocol="seism"))
    np.testing.assert_array_equal(strict, [[0, 0, 0, 8]])  # seism: pred > t, 0.5 is not > 0.5
    for name in ("release", "bsds"):  # pred >= t: the 8 pixels at exactly 0.5 are on, all matched
        inclusive = evaluate_image(pred, gt, EdgeEvalConfig(max_dist=0.1, thresholds=(0.5,), protocol=name))
        np.testing.assert_array_equal(inclusive, [[8, 8, 8, 8]])
    empty = evaluate_image(np.zeros((10, 10)), gt, _cfg(1.0, (10, 10)))
    assert (empty[:, :3] == 0).all() and (empty[:, 3] == 8).all()
    no_gt = evaluate_image(pred + 0.1, np.zeros((10, 10), bool), _cfg(1.0, (10, 10), k=1))
    np.testing.assert_array_equal(no_gt, [[0, 8, 0, 0]])
    c = np.array([[0, 0, 0, 8], [0, 8, 0, 0], [0, 0, 0, 0]])
    p, r = precision_recall(c, "seism")
    np.testing.assert_allclose(p, [1, 0, 0])  # SEISM per image/OIS: no prediction -> P=1,R=0; no GT -> P=0,R=1
    np.testing.assert_allclose(r, [0, 1, 1])
    p, r = precision_recall(c)  # ratio rule (BSDS; SEISM's dataset totals): 0 where the denominator is 0
    np.testing.assert_allclose(p, [0, 0, 0])
    np.testing.assert_allclose(r, [0, 0, 0])


def test_seg_to_boundary_rule():
    seg = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    expect = np.array([[0, 1, 0], [1, 1, 1], [0, 0, 0]], bool)
    np.testing.assert_array_equal(seg_to_boundary(seg), expect)


def test_nms_keeps_the_ridge_of_a_blurred_line():
    from scipy.ndimage import gaussian_filter

    img = np.zeros((40, 40))
    img[:, 20] = 1.0
    soft = gaussian_filter(img, 2.0)
    soft /= soft.max()
    out = edge_nms(soft)
    rows = slice(6, 34)  # away from the 5-pixel border ramp
    assert (out[rows, 20] > 0.9).all()
    assert (out[rows, :20] == 0).all() and (out[rows, 21:] == 0).all()


# --- scores -------------------------------------------------------------------------------------


def test_ods_ois_ap_on_hand_counts():
    t = np.array([0.25, 0.5, 0.75])
    img_a = np.array([[8, 10, 8, 10], [5, 5, 5, 10], [1, 1, 1, 10]])  # F: 0.8, 0.667, 0.182
    img_b = np.array([[2, 10, 2, 10], [6, 8, 6, 10], [4, 4, 4, 10]])  # F: 0.2, 0.667, 0.571
    total = img_a + img_b  # P: .5, .846, 1 ; R: .5, .55, .25
    s = summarize(t, total, img_a[0] + img_b[1])
    f_total = [0.5, 2 * (11 / 13) * 0.55 / (11 / 13 + 0.55), 0.4]
    assert s["odsF"] == pytest.approx(max(f_total)) and s["ods_threshold"] == 0.5
    assert s["oisF"] == pytest.approx(2 * (14 / 18) * 0.7 / (14 / 18 + 0.7))
    assert s["odsF_interp"] >= s["odsF"]
    # AP: recall points .25 (P 1), .5 (P .5), .55 (P 11/13); grid 0.25..0.55 linearly interpolated.
    grid = np.arange(25, 56) / 100
    expect = np.interp(grid, [0.25, 0.5, 0.55], [1.0, 0.5, 11 / 13]).sum() / 100
    assert s["AP"] == pytest.approx(expect)


def test_interpolated_max_f_and_ap_simple():
    f, thr, p, r = interpolated_max_f(np.array([0.2, 0.8]), np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    assert f == pytest.approx(0.5, abs=1e-3) and thr == pytest.approx(0.5, abs=0.01)
    assert average_precision(np.array([1.0, 1.0]), np.array([0.0, 1.0])) == pytest.approx(1.01)
    assert average_precision(np.array([1.0]), np.array([0.5])) == 0.0


def test_make_thresholds():
    t = make_thresholds(99)
    assert len(t) == 99 and t[0] == pytest.approx(0.01) and t[-1] == pytest.approx(0.99)
    assert t.tolist() == [float(f"0.{i:02d}") for i in range(1, 100)]  # exact decimals, as the release's list
    s = make_thresholds("seism")
    assert len(s) == 101 and s[0] == 0.001 and s[-1] == 0.999
    np.testing.assert_allclose(make_thresholds("0.2,0.5"), [0.2, 0.5])
    for bad in ("abc", [0.5, 0.2], [1.5], 0):
        with pytest.raises(UsageError):
            make_thresholds(bad)


# --- streaming metric ---------------------------------------------------------------------------


def _scene(seed: int, h: int = 32, w: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    seg = np.zeros((h, w), int)
    seg[rng.integers(4, 12) : rng.integers(18, 28), rng.integers(4, 12) : rng.integers(20, 36)] = 1
    gt = seg_to_boundary(seg)
    pred = np.clip(np.roll(gt, int(rng.integers(-1, 2)), axis=1) * 0.7 + rng.random((h, w)) * 0.35, 0, 1)
    return pred, gt


def test_metric_crops_padding_and_merges():
    cfg = dict(max_dist=0.05, thresholds=9, nms=False)
    (p1, g1), (p2, g2) = _scene(0), _scene(1, 28, 36)
    pad_p = np.zeros((2, 1, 32, 40), np.float32)
    pad_t = np.full((2, 1, 32, 40), 255.0, np.float32)
    pad_p[0, 0], pad_t[0, 0] = p1, g1
    pad_p[1, 0, :28, :36], pad_t[1, 0, :28, :36] = p2, g2
    m = BoundaryMetric(**cfg)
    m.update(torch.from_numpy(pad_p), torch.from_numpy(pad_t))
    conf = EdgeEvalConfig(max_dist=0.05, thresholds=tuple(make_thresholds(9).tolist()), nms=False)
    c1, c2 = evaluate_image(p1, g1, conf), evaluate_image(p2, g2, conf)
    np.testing.assert_array_equal(m.counts.numpy(), c1 + c2)
    assert int(m.n_images) == 2
    a, b = BoundaryMetric(**cfg), BoundaryMetric(**cfg)
    a.update(torch.from_numpy(pad_p[:1]), torch.from_numpy(pad_t[:1]))
    b.update(torch.from_numpy(pad_p[1:]), torch.from_numpy(pad_t[1:]))
    assert a.merge(b).compute() == pytest.approx(m.compute())
    out = m.compute()
    assert {"odsF", "odsF_interp", "oisF", "AP", "ods_threshold"} <= set(out)
    assert 0 < out["odsF"] <= out["odsF_interp"] <= 100 and out["oisF"] >= out["odsF"] - 1e-9


def test_metric_empty_and_edge_task_factory():
    from mtbench.registry import get_task

    m = BoundaryMetric()
    assert math.isnan(m.compute()["odsF"])
    assert m.config.nms is False and EdgeEvalConfig().nms is False  # NMS only when asked
    task = get_task("edge")
    assert task.primary == "odsF" and task.primary_spec.higher_is_better and task.in_delta_m
    metric = task.make_metric(None, max_dist=0.011)
    assert isinstance(metric, BoundaryMetric) and metric.config.max_dist == 0.011
    assert task.make_metric(None).config.max_dist == 0.0075
    perfect = torch.zeros(1, 1, 24, 24)
    perfect[0, 0, 5:19, 8] = 1.0
    metric.update(perfect, perfect.clone())
    assert metric.compute()["odsF"] == pytest.approx(100.0)


# --- folders and CLI ----------------------------------------------------------------------------


@pytest.fixture()
def edge_folders(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    for i in range(3):
        pred, gt = _scene(10 + i)
        Image.fromarray(np.round(pred * 255).astype(np.uint8)).save(pred_dir / f"img{i}.png")
        np.save(gt_dir / f"img{i}.npy", gt.astype(np.float32))
    return pred_dir, gt_dir


def test_folder_parallel_equals_serial_and_writes_curve(edge_folders, tmp_path):
    pred_dir, gt_dir = edge_folders
    cfg = EdgeEvalConfig(max_dist=0.05, thresholds=tuple(make_thresholds(9).tolist()), nms=True)
    serial = evaluate_folder(pred_dir, gt_dir, cfg, workers=1)
    parallel = evaluate_folder(pred_dir, gt_dir, cfg, workers=2)
    np.testing.assert_array_equal(serial.counts, parallel.counts)
    assert serial.names == ["img0", "img1", "img2"] and serial.summary()["n_images"] == 3
    csv_path, png_path = write_pr_curve(serial, tmp_path / "out")
    assert csv_path.read_text().count("\n") == 10 and png_path.stat().st_size > 0


def test_folder_missing_ground_truth(edge_folders):
    pred_dir, gt_dir = edge_folders
    (gt_dir / "img1.npy").unlink()
    with pytest.raises(DataError, match="img1"):
        evaluate_folder(pred_dir, gt_dir)


def test_cli_edges_json(edge_folders, tmp_path):
    import json

    from typer.testing import CliRunner

    from mtbench.cli import app

    pred_dir, gt_dir = edge_folders
    res = CliRunner().invoke(
        app,
        [
            "edges",
            str(pred_dir),
            str(gt_dir),
            "--max-dist",
            "0.05",
            "--thresholds",
            "9",
            "--no-nms",
            "--json",
            "--out",
            str(tmp_path / "ev"),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n_images"] == 3 and 0 < out["odsF"] <= 100 and out["protocol"]["nms"] is False
    assert out["protocol"]["protocol"] == "bsds"  # .npy boundary maps: the BSDS protocol by default
    assert (tmp_path / "ev" / "pr_curve.csv").exists()
