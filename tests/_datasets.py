"""Tiny datasets written to disk for the tests (plain functions, shared by several test modules)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

PASCAL_SIZE = (12, 16)  # H, W of every image written by write_pascal_context
PASCAL_SPLITS: dict[str, tuple[str, ...]] = {"train": ("p0", "p1"), "val": ("q0",)}
PASCAL_NO_PERSON = ("p1",)


def save_png(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` as an image file (the format follows the suffix), creating the folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def write_pascal_context(
    root: Path,
    splits: Mapping[str, Sequence[str]] = PASCAL_SPLITS,
    no_person: Iterable[str] = PASCAL_NO_PERSON,
) -> Path:
    """A tiny PASCAL-Context folder (the MTI-Net release's PASCAL_MT layout) at ``root``; returns ``root``.

    Every image is 12×16 (``PASCAL_SIZE``), the k-th of its split a flat grey 40·k. Per image: semseg
    ``row % 21`` (the first of a split under semseg/VOC12, the others under semseg/pascal-context);
    saliency 200 (salient) below row 5, else 30; distilled normals (128, 128, 255); LabelMap 440 'wall'
    (normals valid) in columns 0..7, 1 (normals invalid) from column 8, so the edge runs between
    columns 7 and 8; Pascal-Part: a person (class 15) over rows 0..11 with head (rows 0..2 -> part 1),
    luarm (rows 3..5 -> part 3) and lfoot (rows 10..11 -> part 6), rows 6..9 background (0), plus a
    part-less class-7 object below row 8; images named in ``no_person`` have only that object, so their
    human parts are all ignored (255).
    """
    from scipy.io import savemat

    from mtbench.data.export import pascal_parts_mat

    h, w = PASCAL_SIZE
    no_person = set(no_person)
    rows = np.arange(h)[:, None].repeat(w, 1)
    for split, ids in splits.items():
        for k, name in enumerate(ids):
            save_png(root / "JPEGImages" / f"{name}.jpg", np.full((h, w, 3), 40 * k, np.uint8))
            sub = "VOC12" if k == 0 else "pascal-context"
            save_png(root / "semseg" / sub / f"{name}.png", (rows % 21).astype(np.uint8))
            save_png(root / "sal_distill" / f"{name}.png", np.where(rows > 5, 200, 30).astype(np.uint8))
            save_png(root / "normals_distill" / f"{name}.png", np.full((h, w, 3), [128, 128, 255], np.uint8))
            label_map = np.where(np.arange(w)[None] < 8, 440, 1).repeat(h, 0)  # 440 'wall' (valid), 1 invalid
            (root / "pascal-context" / "trainval").mkdir(parents=True, exist_ok=True)
            savemat(root / "pascal-context" / "trainval" / f"{name}.mat", {"LabelMap": label_map.astype(np.uint16)})
            head, arm, foot = rows < 3, (rows >= 3) & (rows < 6), rows >= 10
            person = [] if name in no_person else [(15, rows < 12, [("head", head), ("luarm", arm), ("lfoot", foot)])]
            (root / "human_parts").mkdir(exist_ok=True)
            savemat(root / "human_parts" / f"{name}.mat", pascal_parts_mat(person + [(7, rows > 8, [])]))
        (root / "ImageSets" / "Context").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Context" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root
