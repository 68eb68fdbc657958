"""One-to-one matching of predicted to ground-truth boundary pixels within a radius.

Convention: a predicted and a ground-truth pixel may be paired when their Euclidean distance is
<= radius (pixels); each pixel is paired at most once; the count returned is the size of a
*maximum-cardinality* matching of that bipartite graph, computed as a maximum flow on the
unit-capacity network source -> predicted -> ground truth -> sink.

Solver: Hopcroft–Karp, O(E·sqrt(V)), compiled (``_hopcroft_karp.c``, built at install; ~1 ms per
480×640 map). Fallback where it was not built: Dinic's maximum flow, ``scipy.sparse.csgraph.maximum_flow``,
same counts, ~15 ms per map (``MTBENCH_MATCHER=scipy`` forces it). SciPy's own
``maximum_bipartite_matching`` is not used: its depth-first phase never marks dead ends, so it takes
exponential time on the layered graphs two nearby boundary curves make (scipy/scipy#26147; 10 s
instead of 13 ms on one 5200×5251 boundary graph with 87k pairs).

Relation to BSDS ``correspondPixels``: it does NOT give the same counts. It solves a minimum-cost
assignment (Goldberg's CSA) on a sparse graph: pixel pairs within maxDist·diagonal (cost = distance),
plus outlier nodes at cost ``outlierCost = 100 × maxDist`` and a random sample of outlier-to-outlier
edges. That graph is an approximation, randomised (the sampled edges) and cost-driven, and its matching
is not always of maximum cardinality: on boundary maps it undercounts the matched pixels by about 0.1%.
Precision and recall depend only on the number of matched pixels, and a maximum-cardinality matching
(computed exactly here) has by definition at least as many as any one-to-one matching within the
radius, correspondPixels' included; so our counts are >= BSDS's, typically by ~0.1%, and they are
deterministic. (Among maximum matchings we do not minimise the total distance: it does not enter the counts.)
"""

from __future__ import annotations

import math
import os

import numpy as np

try:
    from mtbench.metrics._hopcroft_karp import max_matching as _compiled_matching
except ImportError:  # not built (no C compiler at install): SciPy's maximum flow, same counts
    _compiled_matching = None


def _use_compiled() -> bool:
    """The compiled matcher, unless it was not built or ``MTBENCH_MATCHER=scipy`` asks for the fallback."""
    return _compiled_matching is not None and os.environ.get("MTBENCH_MATCHER", "") != "scipy"


def matcher_name() -> str:
    """Which solver ``bipartite_matching_size`` uses (printed by scripts/bench_boundary.py)."""
    return "hopcroft-karp (compiled)" if _use_compiled() else "scipy maximum_flow (dinic)"


def radius_offsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets (dy, dx) with dy² + dx² <= radius², sorted by distance."""
    r = int(math.floor(radius))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    keep = dy * dy + dx * dx <= radius * radius + 1e-9
    dy, dx = dy[keep], dx[keep]
    order = np.argsort(dy * dy + dx * dx, kind="stable")
    return dy[order].astype(np.int64), dx[order].astype(np.int64)


def max_matching_size(graph) -> int:
    """Size of a maximum-cardinality matching of a CSR bipartite graph (rows: one side, columns: other)."""
    from scipy.sparse import csr_matrix

    n1, n2 = graph.shape
    if n1 == 0 or n2 == 0 or graph.nnz == 0:
        return 0
    g = csr_matrix(graph)
    g.sum_duplicates()
    return bipartite_matching_size(n1, n2, g.indptr.astype(np.int64), g.indices.astype(np.int64))


def count_point_matches(pred_yx: np.ndarray, gt_yx: np.ndarray, radius: float) -> int:
    """Maximum one-to-one matching between two point sets (N×2, M×2 coordinates) within ``radius``."""
    from scipy.sparse import csr_matrix
    from scipy.spatial import cKDTree

    pred_yx = np.asarray(pred_yx, dtype=float).reshape(-1, 2)
    gt_yx = np.asarray(gt_yx, dtype=float).reshape(-1, 2)
    if len(pred_yx) == 0 or len(gt_yx) == 0:
        return 0
    pairs = cKDTree(pred_yx).sparse_distance_matrix(cKDTree(gt_yx), radius + 1e-9, output_type="ndarray")
    rows, cols = pairs["i"], pairs["j"]
    graph = csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(len(pred_yx), len(gt_yx)))
    return max_matching_size(graph)


class BoundaryMatcher:
    """Matches many predicted boundary maps against one (thinned) ground-truth map.

    Built once per image: for every pixel within ``radius`` of a ground-truth pixel, the sorted list
    of those ground-truth pixels (a CSR table generated from the disk offsets around each ground-truth
    pixel, ~n_gt × πr² entries). A predicted pixel outside that band cannot match and is skipped; for
    the others the candidate pairs are read off the table, and the flow network is assembled directly
    in CSR form (no sorting per threshold).
    """

    def __init__(self, gt: np.ndarray, radius: float) -> None:
        self.gt = np.asarray(gt, dtype=bool)
        self.radius = float(radius)
        h, w = self.gt.shape
        self.shape = (h, w)
        gy, gx = np.nonzero(self.gt)
        self.n_gt = len(gy)
        dy, dx = radius_offsets(self.radius)
        qy = (gy[:, None] + dy[None, :]).ravel()
        qx = (gx[:, None] + dx[None, :]).ravel()
        gid = np.repeat(np.arange(self.n_gt, dtype=np.int64), len(dy))
        ok = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        pix = qy[ok] * w + qx[ok]
        gid = gid[ok]
        order = np.argsort(pix, kind="stable")  # by pixel; ground-truth ids stay ascending within a pixel
        self._nbr = gid[order]
        self._indptr = np.zeros(h * w + 1, dtype=np.int64)
        np.cumsum(np.bincount(pix, minlength=h * w), out=self._indptr[1:])
        self.near = (np.diff(self._indptr) > 0).reshape(h, w)

    def count(self, pred: np.ndarray) -> int:
        """Number of predicted pixels matched one-to-one to ground-truth pixels (= matched ground truth)."""
        if self.n_gt == 0:
            return 0
        cand = np.flatnonzero(np.asarray(pred, dtype=bool).ravel() & self.near.ravel())
        n1, n2 = len(cand), self.n_gt
        if n1 == 0:
            return 0
        starts = self._indptr[cand]
        lens = self._indptr[cand + 1] - starts
        total = int(lens.sum())
        row_ptr = np.zeros(n1 + 1, dtype=np.int64)
        np.cumsum(lens, out=row_ptr[1:])
        pos = np.arange(total, dtype=np.int64) + np.repeat(starts - row_ptr[:-1], lens)
        gt_cols = self._nbr[pos]
        return bipartite_matching_size(n1, n2, row_ptr, gt_cols)


def bipartite_matching_size(n1: int, n2: int, row_ptr: np.ndarray, cols: np.ndarray) -> int:
    """Maximum matching size of the bipartite graph whose left node u has edges to
    ``cols[row_ptr[u]:row_ptr[u + 1]]`` (right-node ids in [0, n2), no duplicates within a row)."""
    if n1 == 0 or n2 == 0 or len(cols) == 0:
        return 0
    if _use_compiled():
        return _compiled_matching(
            n1, n2, np.ascontiguousarray(row_ptr, dtype=np.int64), np.ascontiguousarray(cols, dtype=np.int64)
        )
    return _flow_matching(n1, n2, row_ptr, cols)


def _flow_matching(n1: int, n2: int, row_ptr: np.ndarray, gt_cols: np.ndarray) -> int:
    """Maximum matching of a bipartite graph given as CSR rows (left nodes) with sorted right-node ids."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    # Nodes: 0 = source, 1..n1 = left, n1+1..n1+n2 = right, n1+n2+1 = sink.
    e = len(gt_cols)
    sink = n1 + n2 + 1
    indptr = np.empty(n1 + n2 + 3, dtype=np.int64)
    indptr[0] = 0
    indptr[1] = n1
    indptr[2 : n1 + 2] = n1 + row_ptr[1:]
    indptr[n1 + 2 :] = n1 + e + np.arange(1, n2 + 2).clip(max=n2)
    indices = np.concatenate([np.arange(1, n1 + 1), n1 + 1 + gt_cols, np.full(n2, sink)]).astype(np.int32)
    cap = csr_matrix(
        (np.ones(len(indices), dtype=np.int32), indices, indptr.astype(np.int32)), shape=(sink + 1, sink + 1)
    )
    cap.has_sorted_indices = True
    return int(maximum_flow(cap, 0, sink, method="dinic").flow_value)
