"""Per-image boundary evaluation: counts of matched/total predicted and ground-truth pixels per threshold.

Convention: prediction = soft boundary map in [0, 1] (H×W); ground truth = boundary map (H×W,
nonzero = boundary); returns int64 counts K×4 (matched_pred, total_pred, matched_gt, total_gt) for K
thresholds; the image diagonal (for the matching radius) is that of the evaluated (cropped) region.

Three named protocols (``PROTOCOLS``), which differ in the ground truth, the binarisation and the ODS:

- ``bsds`` (BSDS500 ``evaluation_bdry_image.m`` / ``collect_eval_bdry.m``, pyEdgeEval): ground truth
  used as given, ``pred >= t``, ODS = interpolated maximum of F along the P/R polyline;
- ``seism`` (SEISM ``fb`` with its stock PNG reader): ground truth thinned (``bwmorph(gt, 'thin', Inf)``;
  for a label map ``bwmorph(seg2bmap(L), 'thin', Inf)``), ``pred > t``, ODS = plain maximum;
- ``release`` (SEISM as the MTI-Net release runs it, with its own reader ``read_one_png.m``): as
  ``seism`` but ``pred >= t``. The default of the edge task's metric in ``mtbench run``/``eval``.

Pipeline for one image, in every protocol:
1. optional edge NMS of the soft map (``nms``; off unless asked, recorded in ``describe``);
2. ground truth thinned once or used as given (the protocol);
3. for each threshold t: binarise (``>=`` or ``>``), thin (``bwmorph 'thin'``), match one-to-one within
   ``max_dist × diagonal`` (``match``, an exact maximum matching), count.
Shortcuts that do not change the result: thresholds above the maximum give empty maps; consecutive
thresholds that select the same number of pixels select the same (nested) set, so the counts are reused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtbench.errors import UsageError
from mtbench.metrics.boundary.match import BoundaryMatcher
from mtbench.metrics.boundary.nms import edge_nms
from mtbench.metrics.boundary.thin import thin

# The thresholds of SEISM's parameters/HED.txt (used by ATRC, InvPT and others): 0.001, 0.01..0.99, 0.999.
SEISM_THRESHOLDS = tuple([0.001] + [round(0.01 * i, 2) for i in range(1, 100)] + [0.999])
DEFAULT_MAX_DIST = 0.0075


@dataclass(frozen=True)
class ProtocolSpec:
    """What distinguishes one evaluation protocol from another (see the module doc)."""

    name: str
    thin_gt: bool  # thin the ground truth (bwmorph 'thin', Inf) before matching
    inclusive: bool  # binarise pred >= t (True) or pred > t (False)
    ods_interpolated: bool  # ODS = BSDS's interpolated maximum (True) or the plain maximum (False)
    seism_ois_rules: bool  # OIS totals with SEISM's empty-map rules (no GT: P=0,R=1; no prediction: P=1,R=0)
    source: str


PROTOCOL_SPECS = {
    "bsds": ProtocolSpec(
        "bsds",
        thin_gt=False,
        inclusive=True,
        ods_interpolated=True,
        seism_ois_rules=False,
        source="BSDS500 evaluation_bdry_image.m + collect_eval_bdry.m (pyEdgeEval)",
    ),
    "seism": ProtocolSpec(
        "seism",
        thin_gt=True,
        inclusive=False,
        ods_interpolated=False,
        seism_ois_rules=True,
        source="SEISM fb with its stock PNG reader",
    ),
    "release": ProtocolSpec(
        "release",
        thin_gt=True,
        inclusive=True,
        ods_interpolated=False,
        seism_ois_rules=True,
        source="SEISM fb with the MTI-Net release's reader (evaluation/seism/read_one_png.m)",
    ),
}
PROTOCOLS = tuple(PROTOCOL_SPECS)


def check_protocol(name: str, option: str = "protocol") -> str:
    """The protocol name, lower-cased; a UsageError naming ``option`` and the valid values otherwise."""
    key = str(name).strip().lower()
    if key not in PROTOCOL_SPECS:
        raise UsageError(f"{option} '{name}': unknown edge evaluation protocol; valid: {', '.join(PROTOCOLS)}")
    return key


def make_thresholds(spec: int | str | Sequence[float] = 99) -> np.ndarray:
    """Thresholds from a count K (linspace(1/(K+1), 1-1/(K+1), K), BSDS's rule: 99 -> 0.01..0.99, each
    snapped to the double nearest its 12-digit decimal, so 99 gives exactly the values 0.01, ..., 0.99 the
    MTI-Net release writes with '%.2f'), ``"seism"`` (SEISM's 101 HED thresholds), a comma-separated
    string or a list of values in (0, 1)."""
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
                raise UsageError(
                    f"--thresholds '{spec}': expected a count (99), 'seism' or a comma-separated list"
                ) from None
    if isinstance(spec, (int, np.integer)):
        k = int(spec)
        if k < 1:
            raise UsageError(f"thresholds: need at least 1 threshold, got {k}")
        return np.array([float(f"{v:.12g}") for v in np.linspace(1.0 / (k + 1), 1.0 - 1.0 / (k + 1), k)])
    t = np.asarray(list(spec), dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or np.any(t <= 0) or np.any(t >= 1) or np.any(np.diff(t) <= 0):
        raise UsageError(f"thresholds must be strictly increasing values in (0, 1), got {t.tolist()[:5]}...")
    return t


NMS_DESCRIPTION = (
    "edge NMS of the soft map before thresholding (orientation from triangle-smoothed r=4 "
    "second derivatives, r=1, border 5, multiplier 1.01)"
)


@dataclass(frozen=True)
class EdgeEvalConfig:
    """What defines the evaluation (stored in records via ``describe``). ``protocol``: one of
    ``PROTOCOLS``; ``nms``: edge NMS of the predictions first (off by default in every protocol)."""

    max_dist: float = DEFAULT_MAX_DIST
    thresholds: tuple[float, ...] = tuple(make_thresholds(99).tolist())
    nms: bool = False
    protocol: str = "release"

    def __post_init__(self) -> None:
        object.__setattr__(self, "protocol", check_protocol(self.protocol))
        object.__setattr__(self, "nms", bool(self.nms))

    @property
    def spec(self) -> ProtocolSpec:
        return PROTOCOL_SPECS[self.protocol]

    @property
    def thin_gt(self) -> bool:
        return self.spec.thin_gt

    @property
    def comparison(self) -> str:
        """'>=' or '>': how a soft map is binarised at a threshold."""
        return ">=" if self.spec.inclusive else ">"

    def describe(self) -> dict:
        """The protocol as a flat dict (the run record's edge protocol; ``mtbench edges`` prints it)."""
        t, sp = self.thresholds, self.spec
        return {
            "max_dist": self.max_dist,  # first: records' notes read 'edge protocol: max_dist=...'
            "protocol": self.protocol,
            "thresholds": f"{len(t)} in [{t[0]:.4g}, {t[-1]:.4g}]",
            "binarise": f"pred {self.comparison} t",
            "nms": self.nms,
            "prediction": (NMS_DESCRIPTION + ", then " if self.nms else "no NMS; ")
            + "binarised, thinned (bwmorph 'thin', Inf)",
            "gt": (
                "thinned once: bwmorph(gt, 'thin', Inf) (a .mat label map: seg2bmap first; "
                "idempotent on an already thin map)"
            )
            if sp.thin_gt
            else "used as given, not thinned (a .mat label map: its seg2bmap boundaries)",
            "matching": "exact maximum-cardinality one-to-one matching within max_dist x diagonal (Hopcroft-Karp)",
            "ods": (
                "interpolated maximum of F along the dataset P/R polyline (BSDS maxF, 100 points per segment)"
                if sp.ods_interpolated
                else "plain maximum of the dataset F over thresholds (first on ties)"
            ),
            "ois": "per image the first threshold of highest F, counts summed"
            + (
                "; SEISM empty rules (no GT: P=0,R=1; no prediction: P=1,R=0)"
                if sp.seism_ois_rules
                else "; R=cntR/sumR, P=cntP/sumP (0 when empty)"
            ),
            "ap": "dataset precision at recall 0:0.01:1 (linear, 0 outside the curve), summed x 0.01",
            "source": sp.source,
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
    gt_used = thin(gt) if config.thin_gt else gt
    h, w = gt.shape
    matcher = BoundaryMatcher(gt_used, config.max_dist * math.sqrt(h * h + w * w))
    counts[:, 3] = matcher.n_gt
    inclusive = config.spec.inclusive
    flat = np.sort(pred.ravel())
    # pixels switched on at each threshold: pred >= t (side 'left') or pred > t (side 'right')
    above = flat.size - np.searchsorted(flat, thresholds, side="left" if inclusive else "right")
    prev_above = -1
    prev_row: np.ndarray | None = None
    for i, t in enumerate(thresholds):
        if above[i] == 0:
            break  # thresholds ascending: every later map is empty too (matched 0, predicted 0)
        if above[i] == prev_above and prev_row is not None:  # prev_row is set whenever prev_above matches
            counts[i] = prev_row
            continue
        b = thin(pred >= t if inclusive else pred > t)
        matched = matcher.count(b)
        counts[i, :3] = (matched, int(b.sum()), matched)
        prev_above, prev_row = above[i], counts[i].copy()
    return counts
