"""Boundary detection metric: ODS-F, OIS-F and AP under a named protocol (bsds / seism / release), in Python.

Convention: percent (0-100), higher is better; ``ods_threshold`` is a fraction in (0, 1). Matching
radius = ``max_dist`` × diagonal of each image's valid region (0.0075 PASCAL-Context, 0.011 NYUD).

Protocols (``evaluate`` module doc): ``bsds`` (GT as given, ``pred >= t``, interpolated ODS),
``seism`` (GT thinned, ``pred > t``, plain-maximum ODS), ``release`` (as seism with ``pred >= t``; the
default here, i.e. of the edge task in ``mtbench run``/``eval``). NMS of the predictions is off unless
``nms=True``. ``BoundaryMetric.protocol()`` returns all of it for the run record.

Module by module: ``metric`` (``BoundaryMetric``, the streaming metric of the edge task), ``evaluate``
(protocols; per image: optional NMS, thresholds, thinning, counts), ``thin`` (bwmorph 'thin'), ``match``
(exact one-to-one matching), ``nms`` (edge NMS), ``scores`` (ODS/OIS/AP and the empty-map rules),
``folder`` (folders of PNG/NPY/.mat, multiprocessing, P/R curve files; ``mtbench edges``).
"""

from mtbench.metrics.boundary.evaluate import (
    DEFAULT_MAX_DIST,
    PROTOCOLS,
    SEISM_THRESHOLDS,
    EdgeEvalConfig,
    check_protocol,
    crop_valid,
    evaluate_image,
    make_thresholds,
    seg_to_boundary,
)
from mtbench.metrics.boundary.folder import EdgeFolderResult, default_protocol, evaluate_folder, write_pr_curve
from mtbench.metrics.boundary.metric import BoundaryMetric, make_boundary_metric

# The submodule names (thin, match, nms, ...) are not re-bound here: import their functions from them.
__all__ = [
    "BoundaryMetric",
    "make_boundary_metric",
    "DEFAULT_MAX_DIST",
    "PROTOCOLS",
    "SEISM_THRESHOLDS",
    "EdgeEvalConfig",
    "check_protocol",
    "crop_valid",
    "evaluate_image",
    "make_thresholds",
    "seg_to_boundary",
    "EdgeFolderResult",
    "default_protocol",
    "evaluate_folder",
    "write_pr_curve",
]
