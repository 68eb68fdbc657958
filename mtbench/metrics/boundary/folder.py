"""Boundary evaluation of a folder of predictions against a folder of ground truth, in parallel.

Convention: scores in percent (0-100), higher is better; images paired by file stem.
Predictions: ``.png`` (8- or 16-bit, scaled to [0, 1]) or ``.npy`` (float in [0, 1], or uint8 /255).
Ground truth: boundary maps, ``.png`` (nonzero = boundary) or ``.npy`` (nonzero = boundary, 255 =
ignore), or label maps, ``.mat`` with a ``LabelMap`` (PASCAL-Context), turned into one-sided boundaries
by SEISM's seg2bmap rule (not thinned here: the protocol thins, or not). ``default_protocol``: ``bsds``
for boundary maps, ``seism`` for label maps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtbench.data.common import read_mat, read_npy
from mtbench.errors import DataError, UsageError
from mtbench.metrics.boundary.evaluate import EdgeEvalConfig, crop_valid, evaluate_image, seg_to_boundary
from mtbench.metrics.boundary.scores import best_index, f_measure, precision_recall, summarize

log = logging.getLogger(__name__)
PRED_EXTS = (".png", ".npy")
GT_EXTS = (".png", ".npy", ".mat")


def load_prediction(path: Path) -> np.ndarray:
    """Soft boundary map in [0, 1] (float64, H×W)."""
    path = Path(path)
    if path.suffix == ".npy":
        a = read_npy(path)
    else:
        from PIL import Image

        with Image.open(path) as im:
            a = np.asarray(im)
        if a.ndim == 3:
            a = a[..., 0]
    a = np.squeeze(a)
    if a.ndim != 2:
        raise DataError(f"{path}: expected a 2-D boundary map, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected a numeric boundary map, got {a.dtype}")
    if a.dtype == np.uint8:
        return a / 255.0
    if a.dtype == np.uint16:
        return a / 65535.0
    a = a.astype(np.float64)
    if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1 or np.isnan(a).any()):
        raise DataError(f"{path}: prediction values must lie in [0, 1] (got {np.nanmin(a):.3g}..{np.nanmax(a):.3g})")
    return a


def load_ground_truth(path: Path) -> np.ndarray:
    """Ground-truth map: 0 = no boundary, 1 = boundary, 255 = ignore (uint8, H×W)."""
    path = Path(path)
    if path.suffix == ".mat":
        mat = read_mat(path)
        if "LabelMap" not in mat:
            raise DataError(f"{path}: no 'LabelMap' variable (expected a PASCAL-Context label map)")
        labels = np.asarray(mat["LabelMap"])
        if labels.ndim != 2 or labels.dtype.kind not in "biu":
            raise DataError(
                f"{path}: 'LabelMap' must be a 2-D integer label map, got {labels.dtype} of shape {labels.shape}"
            )
        return seg_to_boundary(labels).astype(np.uint8)
    if path.suffix == ".npy":
        a = np.squeeze(read_npy(path))
        if a.dtype.kind not in "biuf":
            raise DataError(f"{path}: expected a numeric boundary map, got {a.dtype}")
        out = (a != 0).astype(np.uint8)
        out[a == 255] = 255
    else:
        from PIL import Image

        with Image.open(path) as im:
            a = np.asarray(im)
        a = a[..., 0] if a.ndim == 3 else a
        out = (a != 0).astype(np.uint8)
    if out.ndim != 2:
        raise DataError(f"{path}: expected a 2-D boundary map, got shape {out.shape}")
    return out


def _find(folder: Path, stem: str, exts: tuple[str, ...]) -> Path | None:
    for ext in exts:
        p = folder / f"{stem}{ext}"
        if p.exists():
            return p
    return None


def pair_files(pred_dir: Path, gt_dir: Path, warn: bool = True) -> list[tuple[str, Path, Path]]:
    """(name, prediction, ground truth) for every prediction file; a missing ground truth is an error."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for d in (pred_dir, gt_dir):
        if not d.is_dir():
            raise DataError(f"{d}: not a directory")
    preds = sorted(p for p in pred_dir.iterdir() if p.suffix in PRED_EXTS)
    if not preds:
        raise DataError(f"{pred_dir}: no prediction files ({', '.join(PRED_EXTS)})")
    pairs = []
    for p in preds:
        g = _find(gt_dir, p.stem, GT_EXTS)
        if g is None:
            raise DataError(
                f"{gt_dir}: no ground truth for prediction '{p.name}' (looked for {p.stem}{{{','.join(GT_EXTS)}}})"
            )
        pairs.append((p.stem, p, g))
    n_gt = sum(1 for g in gt_dir.iterdir() if g.suffix in GT_EXTS)
    if warn and n_gt > len(pairs):
        log.warning("%s: %d ground-truth files have no prediction and are not evaluated", gt_dir, n_gt - len(pairs))
    return pairs


def default_protocol(pred_dir: Path, gt_dir: Path) -> str:
    """The protocol that fits the ground truth paired with the predictions: ``seism`` when it is label
    maps (``.mat``: SEISM's ground truth is their thinned seg2bmap boundaries), ``bsds`` when it is
    boundary maps (``.png``/``.npy``, used as given). A folder mixing both kinds is a UsageError."""
    kinds = {"labels" if g.suffix == ".mat" else "boundaries" for _, _, g in pair_files(pred_dir, gt_dir, warn=False)}
    if len(kinds) > 1:
        raise UsageError(
            f"{gt_dir}: the ground truth mixes label maps (.mat) and boundary maps (.png/.npy); "
            "choose --protocol bsds|seism|release"
        )
    return "seism" if kinds == {"labels"} else "bsds"


def _evaluate_pair(args: tuple[str, Path, Path, EdgeEvalConfig]) -> tuple[str, np.ndarray]:
    name, pred_path, gt_path, config = args
    pred, gt = load_prediction(pred_path), load_ground_truth(gt_path)
    if pred.shape != gt.shape:
        raise DataError(f"{pred_path}: shape {pred.shape} differs from ground truth {gt_path} {gt.shape}")
    pred, gt = crop_valid(pred, gt, 255)
    return name, evaluate_image(pred, gt, config)


@dataclass
class EdgeFolderResult:
    """Per-image counts (N×K×4) of a folder evaluation, with the protocol that produced them."""

    config: EdgeEvalConfig
    names: list[str] = field(default_factory=list)
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 4), dtype=np.int64))

    def summary(self) -> dict[str, float]:
        """odsF, odsF_interp, oisF, AP, precisions and recalls in percent; thresholds as fractions."""
        t = np.asarray(self.config.thresholds)
        total = self.counts.sum(axis=0)
        ois = sum((c[best_index(c)] for c in self.counts), np.zeros(4, dtype=np.int64))
        out = summarize(t, total, ois, self.config.protocol)
        return {k: (v if "threshold" in k else 100.0 * v) for k, v in out.items()} | {"n_images": len(self.names)}

    def curve(self) -> list[dict[str, float]]:
        """Dataset precision/recall/F per threshold (fractions; P or R = 0 where its denominator is 0)."""
        p, r = precision_recall(self.counts.sum(axis=0), "ratio")
        f = f_measure(p, r)
        return [
            {"threshold": float(t), "precision": float(a), "recall": float(b), "f": float(c)}
            for t, a, b, c in zip(self.config.thresholds, p, r, f)
        ]


def evaluate_folder(
    pred_dir: Path,
    gt_dir: Path,
    config: EdgeEvalConfig = EdgeEvalConfig(),
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> EdgeFolderResult:
    """Evaluate every prediction in ``pred_dir`` against ``gt_dir``; ``workers`` processes (1 = in process)."""
    pairs = pair_files(pred_dir, gt_dir)
    jobs = [(n, p, g, config) for n, p, g in pairs]
    results: dict[str, np.ndarray] = {}
    if workers <= 1:
        for i, job in enumerate(jobs):
            name, c = _evaluate_pair(job)
            results[name] = c
            if progress:
                progress(i + 1, len(jobs))
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_evaluate_pair, job) for job in jobs]
            for i, fut in enumerate(as_completed(futures)):
                name, c = fut.result()
                results[name] = c
                if progress:
                    progress(i + 1, len(jobs))
    names = [n for n, _, _ in pairs]
    return EdgeFolderResult(config=config, names=names, counts=np.stack([results[n] for n in names]))


def write_pr_curve(result: EdgeFolderResult, out_dir: Path) -> tuple[Path, Path]:
    """Write ``pr_curve.csv`` (threshold, precision, recall, f) and ``pr_curve.png``; returns both paths."""
    import csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = result.curve()
    csv_path, png_path = out_dir / "pr_curve.csv", out_dir / "pr_curve.png"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["threshold", "precision", "recall", "f"])
        w.writeheader()
        w.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result.summary()
    fig, ax = plt.subplots(figsize=(5, 5))
    for fv in (0.2, 0.4, 0.6, 0.8):  # iso-F curves
        rr = np.linspace(fv / 2 + 1e-3, 1, 200)
        ax.plot(rr, fv * rr / (2 * rr - fv), color="0.85", lw=0.8)
    ax.plot(
        [r["recall"] for r in rows],
        [r["precision"] for r in rows],
        lw=2,
        label=f"ODS {s['odsF']:.1f}  OIS {s['oisF']:.1f}  AP {s['AP']:.1f}",
    )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="recall",
        ylabel="precision",
        title=f"boundaries ({result.config.protocol}{', NMS' if result.config.nms else ''}), "
        f"{s['n_images']} images, maxDist {result.config.max_dist}",
    )
    ax.legend(loc="lower left")
    fig.savefig(png_path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return csv_path, png_path
