"""Per-image statistics of a streaming metric and a seeded bootstrap over the evaluated images.

A metric's state is a sum over images (the ``Metric`` convention), so image i's statistic is the state
increment it contributes, and the metric of any multiset of images is ``compute`` on the sum of their
increments. ``PerImageRecorder`` feeds a metric one image at a time and keeps those increments
(``PerImageStats``: a sparse n_images × D matrix, since one image's confusion matrix is mostly zeros).

A bootstrap replicate b sums the statistics of the images drawn in resample b (an image drawn k times counts
k times), loads the sums into a zero-state copy of the metric and reads ``compute()[key]``
(``bootstrap_replicates``). The resamples depend only on (n_images, n_boot, seed) (``resample_indices``),
never on the model, task or metric: every record evaluated on the same N images with the same seed has the
same resample b, so two records' replicates b can be compared pairwise (a paired bootstrap of Δm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch

from mtbench.metrics.base import Metric

DEFAULT_N_BOOT = 1000
"""Replicates per bootstrap in run records."""
DEFAULT_SEED = 0
"""Seed of the resampling in run records (the same for every record, so that replicates pair up)."""
MAX_STATS_BYTES = 256 << 20
"""Per-image statistics of one metric beyond this size are dropped (that metric gets no bootstrap)."""
SIGNIFICANT_DIGITS = 6
"""Replicates are rounded to this many significant digits (``round_significant``) in records."""
_CHUNK = 100  # replicates summed at once (bounds the memory of the weight and sum matrices)
_BYTES_PER_NONZERO = 12  # an int32 column index and a float64 value


class BootstrapUnavailable(Exception):
    """A metric cannot be bootstrapped here; the message says why (for the record's notes)."""


def resample_indices(n_images: int, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Image indices of ``n_boot`` resamples with replacement of ``n_images`` images: an int64 array
    (n_boot, n_images) with values in [0, n_images), row b the b-th resample.

    Drawn as ``np.random.default_rng(seed).integers(0, n_images, size=(n_boot, n_images))``, so the result
    depends only on these three numbers (and on numpy's PCG64 stream), never on the model, task or metric.
    Rows are drawn in order: the first k rows are the same for every ``n_boot >= k``."""
    if n_images < 1 or n_boot < 1:
        raise ValueError(f"resample_indices needs n_images >= 1 and n_boot >= 1, got {n_images} and {n_boot}")
    if seed < 0:
        raise ValueError(f"resample_indices needs a seed >= 0, got {seed}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_images, size=(n_boot, n_images), dtype=np.int64)


@dataclass(frozen=True)
class PerImageStats:
    """Per-image statistics of one metric: row i of ``rows`` (n_images × D, float64) holds the increments
    that image i added to the state tensors ``names`` (shapes ``shapes``), flattened and concatenated in
    that order. Integer counts are exact in float64 (below 2**53)."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    rows: scipy.sparse.csr_matrix

    @property
    def n_images(self) -> int:
        return int(self.rows.shape[0])

    def unflatten(self, flat: np.ndarray) -> dict[str, torch.Tensor]:
        """One flattened state row (length D) as {name: float64 tensor of its shape}."""
        out, offset = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = math.prod(shape)
            out[name] = torch.from_numpy(np.array(flat[offset : offset + size], dtype=np.float64)).reshape(shape)
            offset += size
        return out


class PerImageRecorder:
    """Feeds ``metric`` one image at a time and keeps each image's state increment for a bootstrap of ``key``.

    ``update(pred, target)`` takes a batch (images along dim 0), as ``Metric.update``: each image is folded
    into a zero-state copy of the metric, whose state (the states ``metric.bootstrap_state_names(key)``) is
    recorded, then merged into ``metric``. So ``metric`` ends with every state it would have after batch
    updates (the same sums, up to float rounding for float states) and ``stats()`` with one row per image,
    images in the order they came (including images that add nothing, e.g. pure padding: zero rows).
    Statistics beyond ``max_bytes`` are dropped (``unavailable`` says so; ``metric`` is still updated)."""

    def __init__(self, metric: Metric, key: str, max_bytes: int = MAX_STATS_BYTES) -> None:
        if not metric.bootstrappable:
            raise BootstrapUnavailable(f"{type(metric).__name__} is not bootstrappable (its state is not a sum)")
        if not metric.state():
            raise BootstrapUnavailable(f"{type(metric).__name__} has no state to resample")
        self.metric = metric
        self.key = key
        self.max_bytes = max_bytes
        self._scratch = metric.empty_copy()
        state = self._scratch.state()
        self.names = tuple(metric.bootstrap_state_names(key))
        self.shapes = tuple(tuple(state[n].shape) for n in self.names)
        self._columns: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._nonzeros = 0
        self.unavailable: str | None = None

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        for i in range(pred.shape[0]):
            self._scratch.reset()
            self._scratch.update(pred[i : i + 1], target[i : i + 1])
            scratch_state = self._scratch.state()
            device = next(iter(scratch_state.values())).device
            if next(iter(self.metric.state().values())).device != device:
                self.metric.to(device)  # sums stay on the predictions' device, as with batch updates
            self.metric.merge(self._scratch)
            if self.unavailable is None:
                self._record(scratch_state)

    def _record(self, state: dict[str, torch.Tensor]) -> None:
        parts = [state[n].detach().reshape(-1).to(torch.float64) for n in self.names]
        flat = torch.cat(parts).cpu().numpy() if parts else np.zeros(0)
        columns = np.flatnonzero(flat)
        self._columns.append(columns.astype(np.int32))
        self._values.append(flat[columns])
        self._nonzeros += columns.size
        if self._nonzeros * _BYTES_PER_NONZERO > self.max_bytes:
            self.unavailable = f"per-image statistics exceed {self.max_bytes >> 20} MiB"
            self._columns, self._values = [], []

    @property
    def n_images(self) -> int:
        return len(self._columns)

    def stats(self) -> PerImageStats:
        """The recorded statistics (BootstrapUnavailable when they were dropped)."""
        if self.unavailable is not None:
            raise BootstrapUnavailable(self.unavailable)
        width = sum(math.prod(s) for s in self.shapes)
        indptr = np.zeros(len(self._columns) + 1, dtype=np.int64)
        np.cumsum([c.size for c in self._columns], out=indptr[1:])
        columns = np.concatenate(self._columns) if self._columns else np.zeros(0, dtype=np.int32)
        values = np.concatenate(self._values) if self._values else np.zeros(0)
        rows = scipy.sparse.csr_matrix((values, columns, indptr), shape=(len(self._columns), width))
        return PerImageStats(self.names, self.shapes, rows)


def bootstrap_replicates(per_image_stats: PerImageStats, metric: Metric, key: str, indices: np.ndarray) -> list[float]:
    """The value ``key`` of ``metric`` on each resample: for row b of ``indices`` (image indices into
    ``per_image_stats``, repeats allowed), the statistics of those images are summed (an image drawn k times
    counts k times), loaded into a zero-state copy of ``metric`` (``Metric.load_state``; states that the
    statistics do not keep are zero) and ``compute()[key]`` is read. ``metric`` itself is not changed.
    ``indices = np.arange(n)[None]`` gives the full-set value."""
    idx = np.asarray(indices)
    n = per_image_stats.n_images
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be a 2-D integer array (n_boot, n_draws), got {idx.dtype} {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"indices must lie in [0, {n}) (the images with statistics)")
    columns = per_image_stats.rows.T.tocsr()  # D × n: sums = columns @ weights
    fresh = metric.empty_copy().to("cpu")
    out: list[float] = []
    for start in range(0, idx.shape[0], _CHUNK):
        chunk = idx[start : start + _CHUNK]
        k = chunk.shape[0]
        counts = np.bincount((chunk + n * np.arange(k)[:, None]).ravel(), minlength=k * n)
        weights = counts.reshape(k, n).astype(np.float64)  # how often each image is drawn, per replicate
        sums = np.asarray(columns @ weights.T).T  # k × D
        for row in sums:
            fresh.load_state(per_image_stats.unflatten(row))
            out.append(float(fresh.compute()[key]))
    return out


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (keeps records small)."""
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True)
class BootstrapResult:
    """A bootstrap of one metric value over the evaluated images: ``replicates[b]`` is ``metric`` computed on
    resample b of ``resample_indices(n_images, len(replicates), seed)``, rounded (``round_significant``)."""

    metric: str
    n_images: int
    seed: int
    replicates: list[float]


def bootstrap_metric(
    per_image_stats: PerImageStats,
    metric: Metric,
    key: str,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    rel_tol: float = 1e-9,
) -> BootstrapResult:
    """The bootstrap of ``metric.compute()[key]`` (``metric`` holding the full set's state) over the images of
    ``per_image_stats``. BootstrapUnavailable when there are no images, when the full-set value is not finite,
    when the summed statistics do not give it back (within ``rel_tol``: they must, the state being a sum) or
    when a replicate is not finite (e.g. every drawn image without a valid pixel)."""
    n = per_image_stats.n_images
    if n == 0:
        raise BootstrapUnavailable("no images")
    value = metric.compute().get(key)
    if value is None or not math.isfinite(value):
        raise BootstrapUnavailable(f"the full-set {key} is {value}")
    (summed,) = bootstrap_replicates(per_image_stats, metric, key, np.arange(n)[None])
    if not math.isclose(summed, value, rel_tol=rel_tol, abs_tol=rel_tol):
        raise BootstrapUnavailable(f"the summed per-image statistics give {key} {summed!r}, not the full-set {value!r}")
    replicates = bootstrap_replicates(per_image_stats, metric, key, resample_indices(n, n_boot, seed))
    bad = sum(not math.isfinite(v) for v in replicates)
    if bad:
        raise BootstrapUnavailable(f"{bad} of {n_boot} replicates of {key} are not finite ({n} images)")
    return BootstrapResult(key, n, seed, [round_significant(v) for v in replicates])
