"""``mtbench show``'s figure: one row per image, the image, then per main task the ground truth and each
run's prediction (with that image's own primary metric in the panel title), from plain arrays.

This module draws only: ``mtbench.analysis.show`` runs the models and fills ``ShowData``. Conventions:
semseg / human_parts in a fixed palette (class k always the same colour) with a legend of the classes
shown; depth and its absolute error in metres, each with one colour bar shared by the figure; normals as
RGB ((n + 1) / 2); saliency and edges as grey maps; ignored pixels (label 255, invalid depth 0, zero
normals) grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

IGNORE = 255
LABEL_TASKS = ("semseg", "human_parts")
IGNORED_RGB = (0.6, 0.6, 0.6)
GRID_SUFFIX = ".show.png"


def grid_path(record_json: Path) -> Path:
    """A record's attached grid (``mtbench show RECORD --attach``): ``<id>.show.png`` beside ``<id>.json``; the
    site (``mtbench leaderboard --site``) puts it on the run's page."""
    return record_json.with_name(record_json.stem + GRID_SUFFIX)


DEPTH_CMAP, ERROR_CMAP, GREY_CMAP = "viridis", "magma", "gray"


@dataclass
class ShowTask:
    """One task of one image: ``target`` and each run's ``preds`` (numpy, the image's original size:
    labels H×W, depth 1×H×W metres, normals 3×H×W, saliency/edge 1×H×W in [0, 1]) and each run's
    per-image primary metric ``values`` (NaN when the image has no valid pixel for it)."""

    target: np.ndarray
    preds: list[np.ndarray]
    values: list[float]


@dataclass
class ShowRow:
    """One image: its dataset name and index, the RGB image (H×W×3 in [0, 1]) and its tasks."""

    name: str
    index: int
    image: np.ndarray
    tasks: dict[str, ShowTask]


@dataclass
class ShowData:
    """What the figure shows: ``runs`` (labels, in column order), ``tasks`` (main tasks), each task's
    primary metric name and unit, ``class_names`` per label task (may be shorter than the classes: the
    rest are shown as their index) and the rows."""

    dataset: str
    split: str
    runs: list[str]
    tasks: list[str]
    primary: dict[str, str]
    units: dict[str, str]
    rows: list[ShowRow]
    class_names: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""


@dataclass
class ShowPlot:
    """The figure and its panel grid (``axes[row][column]``, colour bars not included)."""

    figure: Figure
    axes: list[list[Axes]]

    def titles(self) -> list[list[str]]:
        return [[ax.get_title() for ax in row] for row in self.axes]


def columns(data: ShowData) -> list[tuple[str, str, int]]:
    """The grid's columns as (task, kind, run index): ("", "image", -1), then per task ("gt", -1) and
    ("pred", i) per run, and for depth ("error", i) per run."""
    cols: list[tuple[str, str, int]] = [("", "image", -1)]
    for t in data.tasks:
        cols.append((t, "gt", -1))
        cols += [(t, "pred", i) for i in range(len(data.runs))]
        if t == "depth":
            cols += [(t, "error", i) for i in range(len(data.runs))]
    return cols


def palette(n: int) -> np.ndarray:
    """n fixed RGB colours (n×3 in [0, 1]): tab20, then tab20b, tab20c, each without its greys (grey is
    the ignored pixels': tab20's class 14 grey was next to it), then a fixed golden-ratio hue walk."""
    from matplotlib import colormaps
    from matplotlib.colors import hsv_to_rgb

    base = [
        c
        for name in ("tab20", "tab20b", "tab20c")
        for i in range(20)
        if max(c := colormaps[name](i)[:3]) - min(c) > 0.02  # drop the achromatic entries
    ]
    extra = [hsv_to_rgb(((k * 0.618033988749895) % 1.0, 0.65, 0.9)) for k in range(max(0, n - len(base)))]
    return np.array((base + [tuple(c) for c in extra])[:n], dtype=np.float64).reshape(n, 3)


def labels_rgb(labels: np.ndarray, n: int) -> np.ndarray:
    """Label map H×W -> RGB in the fixed palette; ignored (or out-of-range) pixels grey."""
    pal = np.vstack([palette(n), np.array([IGNORED_RGB])])
    idx = np.where((labels >= 0) & (labels < n), labels, n).astype(np.int64)
    return pal[idx]


def normals_rgb(normals: np.ndarray) -> np.ndarray:
    """Normals 3×H×W -> RGB (n + 1) / 2; invalid (zero or non-finite) vectors grey."""
    n = np.nan_to_num(normals.astype(np.float64))
    rgb = np.clip((n.transpose(1, 2, 0) + 1.0) / 2.0, 0.0, 1.0)
    rgb[np.linalg.norm(n, axis=0) <= 0.5] = IGNORED_RGB
    return rgb


def depth_valid(depth: np.ndarray) -> np.ndarray:
    return np.isfinite(depth) & (depth > 0)


def _cmap_rgb(values: np.ndarray, cmap: str, vmax: float) -> np.ndarray:
    """H×W values (NaN: ignored) -> RGB H×W×3 in ``cmap`` over [0, vmax], NaN grey (as imshow draws them)."""
    from matplotlib import colormaps

    v = np.clip(np.nan_to_num(values / vmax, nan=0.0), 0.0, 1.0)
    rgb = colormaps[cmap](v)[..., :3].astype(np.float64)
    rgb[np.isnan(values)] = IGNORED_RGB
    return rgb


def panel_rgb(
    task: str, arr: np.ndarray, target: np.ndarray, *, gt: bool, num_classes: int = 256, depth_max: float = 1.0
) -> np.ndarray:
    """One panel as RGB H×W×3 in [0, 1], coloured as ``show_figure`` draws it: ``arr`` is the ground truth
    (``gt``) or a prediction, ``target`` the image's ground truth (arrays as in ``ShowTask``); label maps in
    the fixed palette of ``num_classes``, a prediction grey where the target is ignored; depth in the depth
    colour map over [0, ``depth_max``] metres (invalid ground truth grey); normals (n + 1) / 2; saliency and
    edges grey maps, ignored pixels grey."""
    if task in LABEL_TASKS:
        lab = np.where(target == IGNORE, IGNORE, arr.astype(np.int64))
        return labels_rgb(lab, num_classes)
    if task == "depth":
        valid = depth_valid(target[0]) if gt else np.isfinite(arr[0])
        return _cmap_rgb(np.where(valid, arr[0], np.nan), DEPTH_CMAP, depth_max)
    if task == "normals":
        return normals_rgb(arr)
    g = np.where(target[0] == IGNORE, np.nan, arr[0].astype(np.float64))
    return _cmap_rgb(g, GREY_CMAP, 1.0)


def format_value(value: float, primary: str, unit: str) -> str:
    """A panel's metric caption, e.g. "mIoU 41.32" / "rmse 0.512 m"; "n/a" for NaN."""
    if value is None or math.isnan(value):
        return f"{primary} n/a"
    digits = 3 if unit in ("m", "") else 2
    return f"{primary} {value:.{digits}f}" + (f" {unit}" if unit and unit != "%" else "")


def _class_name(data: ShowData, task: str, k: int) -> str:
    names = data.class_names.get(task, [])
    return f"{k} {names[k]}" if k < len(names) else str(k)


def show_figure(data: ShowData, num_classes: dict[str, int]) -> ShowPlot:
    """The grid of ``data`` (``num_classes`` of the label tasks, for the palette)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    cols = columns(data)
    nrows, ncols = len(data.rows), len(cols)
    if nrows == 0:
        raise ValueError("show: no images to draw")
    h, w = data.rows[0].image.shape[:2]
    panel = 1.9
    fig, grid = plt.subplots(
        nrows,
        ncols,
        figsize=(panel * ncols * max(0.6, w / h), panel * nrows + 1.6),
        dpi=100,
        squeeze=False,
        layout="constrained",
    )
    depth_max = 0.0
    err_max = 0.0
    for row in data.rows:
        if "depth" in row.tasks:
            st = row.tasks["depth"]
            valid = depth_valid(st.target)
            if valid.any():
                depth_max = max(depth_max, float(st.target[valid].max()))
                for p in st.preds:
                    err_max = max(err_max, float(np.abs(p - st.target)[valid].max()))
    depth_max, err_max = depth_max or 1.0, err_max or 1.0
    cmap_depth = matplotlib.colormaps[DEPTH_CMAP].with_extremes(bad=IGNORED_RGB)
    cmap_err = matplotlib.colormaps[ERROR_CMAP].with_extremes(bad=IGNORED_RGB)
    cmap_grey = matplotlib.colormaps[GREY_CMAP].with_extremes(bad=IGNORED_RGB)
    im_depth = im_err = None
    shown: dict[str, set[int]] = {t: set() for t in data.tasks if t in LABEL_TASKS}
    for r, row in enumerate(data.rows):
        for c, (t, kind, i) in enumerate(cols):
            ax = grid[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if kind == "image":
                ax.imshow(np.clip(row.image, 0, 1))
                ax.set_title(f"{row.name}", fontsize=7)
                continue
            st = row.tasks[t]
            arr = st.target if kind == "gt" else st.preds[i]
            if t in LABEL_TASKS:
                lab = arr.astype(np.int64)
                if kind == "pred":  # a prediction is drawn grey where the target is ignored
                    lab = np.where(st.target == IGNORE, IGNORE, lab)
                shown[t] |= {int(k) for k in np.unique(lab) if k != IGNORE}
                ax.imshow(labels_rgb(lab, num_classes.get(t, 256)), interpolation="nearest")
            elif t == "depth":
                valid = depth_valid(st.target[0])
                if kind == "error":
                    e = np.where(valid, np.abs(arr[0] - st.target[0]), np.nan)
                    im_err = ax.imshow(e, cmap=cmap_err, vmin=0, vmax=err_max, interpolation="nearest")
                else:
                    d = np.where(valid if kind == "gt" else np.isfinite(arr[0]), arr[0], np.nan)
                    im_depth = ax.imshow(d, cmap=cmap_depth, vmin=0, vmax=depth_max, interpolation="nearest")
            elif t == "normals":
                ax.imshow(normals_rgb(arr), interpolation="nearest")
            else:  # saliency, edge: grey maps; ignored pixels (NaN) drawn grey
                g = arr[0].astype(np.float64)
                g = np.where(st.target[0] == IGNORE, np.nan, g)
                ax.imshow(g, cmap=cmap_grey, vmin=0, vmax=1, interpolation="nearest")
            if kind == "gt":
                ax.set_title(f"{t} GT", fontsize=7)
            else:
                label = data.runs[i] + (" |err|" if kind == "error" else "")
                ax.set_title(
                    f"{label}\n{format_value(st.values[i], data.primary[t], data.units.get(t, ''))}", fontsize=7
                )
    bars = (
        (im_depth, [c for c, (t, k, _) in enumerate(cols) if t == "depth" and k != "error"], "depth (m)"),
        (im_err, [c for c, (_, k, _) in enumerate(cols) if k == "error"], "|error| (m)"),
    )
    for im, bar_cols, label in bars:  # one colour bar in metres under all panels of its kind
        if im is not None:
            axes = [grid[r][c] for r in range(nrows) for c in bar_cols]
            fig.colorbar(im, ax=axes, location="bottom", label=label, shrink=0.8)
    for j, (t, classes) in enumerate(shown.items()):
        if not classes:
            continue
        pal = palette(num_classes.get(t, max(classes) + 1))
        handles = [Patch(color=tuple(pal[k]), label=_class_name(data, t, k)) for k in sorted(classes) if k < len(pal)]
        handles.append(Patch(color=IGNORED_RGB, label="ignored / invalid"))
        fig.legend(
            handles=handles,
            title=t,
            loc="outside lower left" if j == 0 else "outside lower right",
            ncol=min(6, len(handles)),
            fontsize=6,
            title_fontsize=7,
        )
    fig.suptitle(f"{data.dataset} {data.split}" + (f" — {data.note}" if data.note else ""), fontsize=9)
    return ShowPlot(fig, [list(r) for r in grid])


def show_plot(data: ShowData, num_classes: dict[str, int], out: Any) -> Any:
    """Draw ``data`` and write the PNG atomically; returns its path."""
    from mtbench.reporting.plots import save_figure

    return save_figure(show_figure(data, num_classes).figure, out)
