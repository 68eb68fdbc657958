"""Benchmark of the boundary evaluation (ODS/OIS/AP) on synthetic NYUD-sized images.

Usage: python scripts/bench_boundary.py [--images 8] [--size 480x640] [--thresholds 99]
       [--max-dist 0.011] [--workers N] [--no-nms]

``MTBENCH_MATCHER=scipy`` times the fallback matcher (SciPy's maximum flow) instead of the compiled one.
Prints the CPU time (``time.process_time``, robust to other load on the machine) per image on one
core with a breakdown (NMS, ground-truth preparation, thinning,
matching), then images/s with ``--workers`` processes through ``evaluate_folder``, and the estimate
for the NYUD val set (654 images) on 2 cores. The synthetic prediction imitates a trained detector:
blurred, slightly displaced true boundaries of varying strength, spurious texture edges and a low
noise floor, so low thresholds select thick regions (the expensive case for thinning).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from mtbench.metrics.boundary import EdgeEvalConfig, evaluate_folder, make_thresholds, seg_to_boundary
from mtbench.metrics.boundary.match import BoundaryMatcher, matcher_name
from mtbench.metrics.boundary.nms import edge_nms
from mtbench.metrics.boundary.thin import thin


def synthetic_pair(seed: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(soft prediction in [0, 1], boundary ground truth) for one image."""
    rng = np.random.default_rng(seed)
    n = 30 + int(rng.integers(0, 30))
    pts = rng.random((n, 2)) * [h, w]
    yy, xx = np.mgrid[:h, :w]
    best = np.full((h, w), np.inf)
    seg = np.zeros((h, w), np.int32)
    for i, (py, px) in enumerate(pts):
        d = (yy - py) ** 2 + (xx - px) ** 2
        closer = d < best
        best[closer], seg[closer] = d[closer], i
    gt = seg_to_boundary(seg)
    strength = rng.uniform(0.3, 1.0, n)[seg] * (rng.random((h, w)) > 0.1)
    moved = ndi.shift(gt * strength, rng.normal(0, 1.0, 2), order=0)
    soft = ndi.gaussian_filter(moved, 1.5) * 5.0
    texture = np.abs(ndi.sobel(ndi.gaussian_filter(rng.random((h, w)), 3.0)))
    texture = np.clip(texture / texture.max() - 0.3, 0.0, None) * 1.5  # sparse spurious edges
    soft = soft + texture + rng.random((h, w)) * 0.03
    return np.clip(soft, 0.0, 1.0), gt


def breakdown(pred: np.ndarray, gt: np.ndarray, cfg: EdgeEvalConfig) -> dict[str, float]:
    """Seconds spent in each stage of ``evaluate_image`` for one image."""
    out = {"nms": 0.0, "gt_prep": 0.0, "thin": 0.0, "match": 0.0, "maps": 0}
    t0 = time.process_time()
    p = edge_nms(pred) if cfg.nms else pred
    t1 = time.process_time()
    out["nms"] = t1 - t0
    g = thin(gt)
    m = BoundaryMatcher(g, cfg.max_dist * math.hypot(*gt.shape))
    out["gt_prep"] = time.process_time() - t1
    flat = np.sort(p.ravel())
    prev = -1
    for t in cfg.thresholds:
        above = flat.size - np.searchsorted(flat, t, side="right")
        if above == 0:
            break
        if above == prev:
            continue
        prev = above
        a = time.process_time()
        b = thin(p > t)
        c = time.process_time()
        m.count(b)
        out["thin"] += c - a
        out["match"] += time.process_time() - c
        out["maps"] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", default="480x640")
    ap.add_argument("--thresholds", default="99")
    ap.add_argument("--max-dist", type=float, default=0.011)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-nms", dest="nms", action="store_false")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    thresholds = tuple(make_thresholds(args.thresholds).tolist())
    cfg = EdgeEvalConfig(max_dist=args.max_dist, thresholds=thresholds, nms=args.nms)
    pairs = [synthetic_pair(i, h, w) for i in range(args.images)]

    print(
        f"{args.images} images {h}x{w}, {len(cfg.thresholds)} thresholds, max_dist {cfg.max_dist}, nms {cfg.nms}, "
        f"matcher: {matcher_name()}"
    )
    rows = []
    for pred, gt in pairs:
        t0 = time.process_time()
        b = breakdown(pred, gt, cfg)
        b["total"] = time.process_time() - t0
        rows.append(b)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    print(
        f"one core (CPU time): {mean['total']:.2f} s/image (nms {mean['nms']:.2f}, gt prep {mean['gt_prep']:.2f}, "
        f"thinning {mean['thin']:.2f}, matching {mean['match']:.2f}; {mean['maps']:.0f} distinct maps)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        pd, gd = Path(tmp, "pred"), Path(tmp, "gt")
        pd.mkdir()
        gd.mkdir()
        for i, (pred, gt) in enumerate(pairs):
            np.save(pd / f"{i:04d}.npy", pred.astype(np.float32))
            np.save(gd / f"{i:04d}.npy", gt.astype(np.uint8))
        t0 = time.perf_counter()
        res = evaluate_folder(pd, gd, cfg, workers=args.workers)
        dt = time.perf_counter() - t0
    s = res.summary()
    print(
        f"{args.workers} workers (wall clock): {args.images / dt:.2f} images/s "
        f"(ODS {s['odsF']:.1f}, OIS {s['oisF']:.1f}, AP {s['AP']:.1f})"
    )
    print(f"NYUD val estimate (654 images, 2 cores, from the one-core time): {654 * mean['total'] / 2 / 60:.1f} min")


if __name__ == "__main__":
    main()
