"""Per-image boundary evaluation: counts of matched/total predicted and ground-truth pixels per threshold.

Convention: prediction = soft boundary map in [0, 1] (H×W); ground truth = boundary map (H×W,
nonzero = boundary); returns int64 counts K×4 (matched_pred, total_pred, matched_gt, total_gt) for K
thresholds; the image diagonal (for the matching radius) is that of the evaluated (cropped) region.

Pipeline for one image, following SEISM's ``fb`` measure for contours:
1. optional edge NMS of the soft map (``boundary_nms``);
2. ground truth thinned once (``bwmorph 'thin'``);
3. for each threshold t: binarise ``pred > t`` (SEISM's PNG reader compares strictly), thin,
   match one-to-one within ``max_dist × diagonal`` (``boundary_match``), count.
Shortcuts that do not change the result: thresholds above the maximum give empty maps; consecutive
thresholds that select the same number of pixels select the same (nested) set, so the counts are reused.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtbench.errors import UsageError
from mtbench.metrics.boundary_match import BoundaryMatcher
from mtbench.metrics.boundary_nms import edge_nms
from mtbench.metrics.boundary_thin import thin

# The thresholds of SEISM's parameters/HED.txt (used by ATRC, InvPT and others): 0.001, 0.01..0.99, 0.999.
SEISM_THRESHOLDS = tuple([0.001] + [round(0.01 * i, 2) for i in range(1, 100)] + [0.999])
DEFAULT_MAX_DIST = 0.0075


def make_thresholds(spec: int | str | Sequence[float] = 99) -> np.ndarray:
    """Thresholds from a count K (linspace(1/(K+1), 1-1/(K+1), K), BSDS's rule: 99 -> 0.01..0.99),
    ``"seism"`` (SEISM's 101 HED thresholds), a comma-separated string or a list of values in (0, 1)."""
    if isinstance(spec, str):
        s = spec.strip().lower()
        if s == "seism":
            return np.array(SEISM_THRESHOLDS, dtype=np.float64)
        if s.isdigit():
            spec = int(s)
        else:
            try:
                spec = [float(v) for v in s.split(",") if v.strip()]
            except ValueError:
                raise UsageError(f"--thresholds '{spec}': expected a count (99), 'seism' "
                                 "or a comma-separated list") from None
    if isinstance(spec, (int, np.integer)):
        k = int(spec)
        if k < 1:
            raise UsageError(f"thresholds: need at least 1 threshold, got {k}")
        return np.linspace(1.0 / (k + 1), 1.0 - 1.0 / (k + 1), k)
    t = np.asarray(list(spec), dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or np.any(t <= 0) or np.any(t >= 1) or np.any(np.diff(t) <= 0):
        raise UsageError(f"thresholds must be strictly increasing values in (0, 1), got {t.tolist()[:5]}...")
    return t


@dataclass(frozen=True)
class EdgeEvalConfig:
    """What defines the protocol (stored in records via ``describe``)."""

    max_dist: float = DEFAULT_MAX_DIST
    thresholds: tuple[float, ...] = tuple(make_thresholds(99).tolist())
    nms: bool = True
    thin_gt: bool = True

    def describe(self) -> dict:
        t = self.thresholds
        return {
            "max_dist": self.max_dist,
            "thresholds": f"{len(t)} in [{t[0]:.4g}, {t[-1]:.4g}], binarised as pred > t",
            "nms": ("edge NMS before thresholding (orientation from triangle-smoothed r=4 second derivatives, "
                    "r=1, border 5, multiplier 1.01)") if self.nms else "none",
            "thinning": "bwmorph 'thin' (Guo-Hall) on prediction" + (" and ground truth" if self.thin_gt else ""),
            "matching": "maximum-cardinality one-to-one matching within max_dist x diagonal (Hopcroft-Karp)",
            "rules": "SEISM fb: no-GT image -> P=0,R=1 (F=0); OIS/ODS first best threshold; AP at recall 0:0.01:1",
        }


def seg_to_boundary(seg: np.ndarray) -> np.ndarray:
    """Boundary map of a label map by SEISM's ``seg2bmap`` rule: a pixel is boundary when its label
    differs from its east, south or south-east neighbour (last row: east only; last column: south
    only; bottom-right pixel never)."""
    s = np.asarray(seg)
    b = np.zeros(s.shape, dtype=bool)
    b[:, :-1] |= s[:, :-1] != s[:, 1:]
    b[:-1, :] |= s[:-1, :] != s[1:, :]
    b[:-1, :-1] |= s[:-1, :-1] != s[1:, 1:]
    return b


def crop_valid(pred: np.ndarray, gt: np.ndarray, ignore_index: int | None = 255) -> tuple[np.ndarray, np.ndarray]:
    """Crop both maps to the bounding box of the non-ignored ground-truth pixels; ignored pixels
    left inside the box become non-boundary. Returns (pred, gt bool); empty arrays if all ignored."""
    gt = np.asarray(gt)
    if ignore_index is None:
        return pred, gt != 0
    valid = gt != ignore_index
    if valid.all():
        return pred, gt != 0
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        return pred[:0, :0], np.zeros((0, 0), dtype=bool)
    sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    g = gt[sl]
    return pred[sl], (g != 0) & (g != ignore_index)


def evaluate_image(pred: np.ndarray, gt: np.ndarray, config: EdgeEvalConfig = EdgeEvalConfig()) -> np.ndarray:
    """Counts K×4 (matched_pred, total_pred, matched_gt, total_gt) of one image (already cropped)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground-truth shape {gt.shape}")
    thresholds = np.asarray(config.thresholds, dtype=np.float64)
    k = len(thresholds)
    counts = np.zeros((k, 4), dtype=np.int64)
    if pred.size == 0:
        return counts
    if config.nms:
        pred = edge_nms(pred)
    gt_thin = thin(gt) if config.thin_gt else gt
    h, w = gt.shape
    matcher = BoundaryMatcher(gt_thin, config.max_dist * math.sqrt(h * h + w * w))
    counts[:, 3] = matcher.n_gt
    flat = np.sort(pred.ravel())
    above = flat.size - np.searchsorted(flat, thresholds, side="right")  # pixels with pred > t
    prev_above, prev_row = -1, None
    for i, t in enumerate(thresholds):
        if above[i] == 0:
            break  # thresholds ascending: every later map is empty too (matched 0, predicted 0)
        if above[i] == prev_above:
            counts[i] = prev_row
            continue
        b = thin(pred > t)
        matched = matcher.count(b)
        counts[i, :3] = (matched, int(b.sum()), matched)
        prev_above, prev_row = above[i], counts[i].copy()
    return counts
