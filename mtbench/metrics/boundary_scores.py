"""From per-threshold match counts to ODS-F, OIS-F and AP, with SEISM's rules.

Convention: counts are integer arrays with last axis (matched_pred, total_pred, matched_gt,
total_gt) = (cntP, sumP, cntR, sumR); scores are fractions in [0, 1] (the metric reports percent);
higher is better.

Rules (SEISM ``eval_cont`` / ``gather_measure`` / ``general_ois`` / ``general_ap``):
- precision/recall: sumR = 0 (no ground-truth boundary) -> R = 1, P = 0; else sumP = 0 (nothing
  predicted) -> R = 0, P = 1; else R = cntR/sumR, P = cntP/sumP. F = 2PR/(P+R), 0 when P+R = 0.
  So an image without ground-truth boundary has F = 0 at every threshold and its predicted pixels
  count as false positives in the dataset totals.
- ODS: sum the counts over images per threshold, F per threshold, the best (first on ties).
  ``ods_interp`` is the BSDS variant: F maximised also along the straight P/R segments between
  consecutive thresholds (100 points per segment).
- OIS: per image, the threshold maximising that image's F (first on ties, as MATLAB's ``max``);
  those counts are summed over images and turned into one P, R, F.
- AP: the dataset P/R curve, one point per distinct recall (the first threshold that reaches it),
  linearly interpolated at recall 0, 0.01, ..., 1 inside the curve's recall range, summed / 100.
"""
from __future__ import annotations

import numpy as np

COLUMNS = ("matched_pred", "total_pred", "matched_gt", "total_gt")


def precision_recall(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P and R from counts (..., 4) with SEISM's empty-map rules."""
    c = np.asarray(counts, dtype=np.float64)
    cnt_p, sum_p, cnt_r, sum_r = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    no_gt, no_pred = sum_r == 0, sum_p == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(no_gt, 1.0, np.where(no_pred, 0.0, cnt_r / np.where(sum_r == 0, 1, sum_r)))
        p = np.where(no_gt, 0.0, np.where(no_pred, 1.0, cnt_p / np.where(sum_p == 0, 1, sum_p)))
    return p, r


def f_measure(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Harmonic mean of precision and recall; 0 where both are 0."""
    p, r = np.asarray(p, dtype=np.float64), np.asarray(r, dtype=np.float64)
    s = p + r
    return np.where(s > 0, 2 * p * r / np.where(s > 0, s, 1), 0.0)


def best_index(counts: np.ndarray) -> int:
    """Index of the threshold with the highest F (first on ties)."""
    p, r = precision_recall(counts)
    return int(np.argmax(f_measure(p, r)))


def interpolated_max_f(thresholds: np.ndarray, p: np.ndarray, r: np.ndarray) -> tuple[float, float, float, float]:
    """BSDS ODS: max F over the P/R polyline between consecutive thresholds -> (F, threshold, P, R)."""
    t = np.asarray(thresholds, dtype=np.float64)
    f0 = float(f_measure(p[0], r[0]))
    best = (f0, float(t[0]), float(p[0]), float(r[0]))
    if len(t) < 2:
        return best
    d = np.linspace(0.0, 1.0, 100)[None, :]
    ti = t[1:, None] * d + t[:-1, None] * (1 - d)
    pi = p[1:, None] * d + p[:-1, None] * (1 - d)
    ri = r[1:, None] * d + r[:-1, None] * (1 - d)
    fi = f_measure(pi, ri)
    k = np.unravel_index(int(np.argmax(fi)), fi.shape)
    if fi[k] > best[0]:
        best = (float(fi[k]), float(ti[k]), float(pi[k]), float(ri[k]))
    return best


def average_precision(p: np.ndarray, r: np.ndarray) -> float:
    """SEISM AP: area under the interpolated P(R) curve sampled at recall 0:0.01:1 (see module doc)."""
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ru, first = np.unique(r, return_index=True)
    if len(ru) < 2:
        return 0.0
    pu = p[first]
    grid = np.linspace(0.0, 1.0, 101)
    inside = (grid >= ru[0]) & (grid <= ru[-1])
    return float(np.interp(grid[inside], ru, pu).sum() / 100.0)


def summarize(thresholds: np.ndarray, counts: np.ndarray, ois_counts: np.ndarray) -> dict[str, float]:
    """Scores (fractions) from dataset counts (K×4) and summed per-image-best counts (4)."""
    p, r = precision_recall(counts)
    f = f_measure(p, r)
    k = int(np.argmax(f))
    f_i, t_i, _, _ = interpolated_max_f(thresholds, p, r)
    op, orr = precision_recall(ois_counts)
    return {
        "odsF": float(f[k]), "ods_threshold": float(thresholds[k]),
        "ods_precision": float(p[k]), "ods_recall": float(r[k]),
        "odsF_interp": f_i, "ods_threshold_interp": t_i,
        "oisF": float(f_measure(op, orr)), "ois_precision": float(op), "ois_recall": float(orr),
        "AP": average_precision(p, r),
    }
