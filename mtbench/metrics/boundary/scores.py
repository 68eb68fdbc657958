"""From per-threshold match counts to ODS-F, OIS-F and AP, per protocol (bsds / seism / release).

Convention: counts are integer arrays with last axis (matched_pred, total_pred, matched_gt,
total_gt) = (cntP, sumP, cntR, sumR); scores are fractions in [0, 1] (the metric reports percent);
higher is better.

Rules, from BSDS ``collect_eval_bdry.m`` and SEISM ``gather_measure`` / ``general_ods`` /
``general_ois`` / ``general_ap``:
- dataset P/R per threshold (ODS, AP, the P/R curve), every protocol: counts summed over images,
  R = cntR/sumR, P = cntP/sumP, 0 when the denominator is 0 (BSDS divides by ``sum + (sum==0)``, SEISM
  by ``sum + eps``); F = 2PR/(P+R), 0 when P+R = 0.
- ODS: ``seism``/``release``: the plain maximum of F over thresholds (first on ties);
  ``bsds``: the interpolated maximum (F maximised also along the straight P/R segments between
  consecutive thresholds, 100 points per segment: BSDS ``maxF``). Both are always reported
  (``odsF_max``, ``odsF_interp``); ``odsF`` is the protocol's.
- OIS: per image, the threshold of highest F (first on ties, MATLAB ``max`` / ``find(F==max(F))(1)``);
  those counts summed over images, one P, R, F. The per-image F is the same under both rule sets below
  (0 whenever a map is empty); the OIS totals use, for ``seism``/``release``, SEISM's empty-map rules
  (sumR = 0 -> R = 1, P = 0; else sumP = 0 -> R = 0, P = 1), for ``bsds`` the ratio rule above.
- AP (BSDS and SEISM alike): the dataset P/R curve, one point per distinct recall (the first threshold
  that reaches it, as ``unique``), precision linearly interpolated at recall 0, 0.01, ..., 1, 0 outside
  the curve's recall range, summed × 0.01.
"""

from __future__ import annotations

import numpy as np

from mtbench.metrics.boundary.evaluate import PROTOCOL_SPECS, check_protocol

COLUMNS = ("matched_pred", "total_pred", "matched_gt", "total_gt")
RULES = ("ratio", "seism")


def precision_recall(counts: np.ndarray, rule: str = "ratio") -> tuple[np.ndarray, np.ndarray]:
    """P and R from counts (..., 4). ``rule="ratio"``: cnt/sum, 0 when sum = 0 (BSDS everywhere, SEISM
    for dataset totals); ``rule="seism"``: SEISM's per-image/OIS rules (no GT: P=0,R=1; no prediction: P=1,R=0)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    c = np.asarray(counts, dtype=np.float64)
    cnt_p, sum_p, cnt_r, sum_r = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    r = cnt_r / np.where(sum_r == 0, 1, sum_r)
    p = cnt_p / np.where(sum_p == 0, 1, sum_p)
    if rule == "seism":
        no_gt, no_pred = sum_r == 0, sum_p == 0
        r = np.where(no_gt, 1.0, np.where(no_pred, 0.0, r))
        p = np.where(no_gt, 0.0, np.where(no_pred, 1.0, p))
    return p, r


def f_measure(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Harmonic mean of precision and recall; 0 where both are 0."""
    p, r = np.asarray(p, dtype=np.float64), np.asarray(r, dtype=np.float64)
    s = p + r
    return np.where(s > 0, 2 * p * r / np.where(s > 0, s, 1), 0.0)


def best_index(counts: np.ndarray) -> int:
    """Index of the threshold with the highest F (first on ties); the same under both rules."""
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
    """AP of BSDS ``collect_eval_bdry`` (``Area_PR``) and SEISM ``general_ap``, the same formula: precision
    of the distinct-recall points interpolated at recall 0:0.01:1, 0 outside, summed × 0.01 (module doc).
    Pass the dataset P/R with the ratio rule."""
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ru, first = np.unique(r, return_index=True)
    if len(ru) < 2:
        return 0.0
    pu = p[first]
    grid = np.arange(101) / 100.0
    inside = (grid >= ru[0]) & (grid <= ru[-1])
    return float(np.interp(grid[inside], ru, pu).sum() / 100.0)


def summarize(
    thresholds: np.ndarray, counts: np.ndarray, ois_counts: np.ndarray, protocol: str = "release"
) -> dict[str, float]:
    """Scores (fractions) of a protocol from dataset counts (K×4) and summed per-image-best counts (4).

    ``odsF``/``ods_threshold``/``ods_precision``/``ods_recall``: the protocol's ODS (bsds: interpolated,
    seism/release: plain maximum); ``odsF_max``/``ods_threshold_max`` and ``odsF_interp``/
    ``ods_threshold_interp``: both variants, always."""
    spec = PROTOCOL_SPECS[check_protocol(protocol)]
    p, r = precision_recall(counts, "ratio")
    f = f_measure(p, r)
    k = int(np.argmax(f))
    f_i, t_i, p_i, r_i = interpolated_max_f(thresholds, p, r)
    op, orr = precision_recall(ois_counts, "seism" if spec.seism_ois_rules else "ratio")
    if spec.ods_interpolated:
        ods = {"odsF": f_i, "ods_threshold": t_i, "ods_precision": p_i, "ods_recall": r_i}
    else:
        ods = {
            "odsF": float(f[k]),
            "ods_threshold": float(thresholds[k]),
            "ods_precision": float(p[k]),
            "ods_recall": float(r[k]),
        }
    return ods | {
        "odsF_max": float(f[k]),
        "ods_threshold_max": float(thresholds[k]),
        "odsF_interp": f_i,
        "ods_threshold_interp": t_i,
        "oisF": float(f_measure(op, orr)),
        "ois_precision": float(op),
        "ois_recall": float(orr),
        "AP": average_precision(p, r),
    }
