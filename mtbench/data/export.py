"""``mtbench data synth``: write synthetic scenes to disk in the NYUD layout (or PASCAL-Context's), plus a
PNG contact sheet.

Sample ``synthetic_<split>_<index>`` on disk is ``synthetic.generate(seed, split, index, size)``: the
same scene that ``build_dataset("synthetic", ...)`` renders on the fly (images stored as JPEG,
quality 95, no chroma subsampling).

``layout="pascal_context"`` writes the same scenes in the MTI-Net release's PASCAL_MT layout, with that
layout's file formats, for ``build_dataset("pascal_context", ...)`` (its loader, its augmentation, its data
throughput: ``mtbench data bench``); the classes keep the scenes' meaning, not PASCAL's (``PASCAL_VOC``,
``PASCAL_CONTEXT_IDS``). Per sample: ``JPEGImages/<id>.jpg`` (quality 75, 4:2:0 chroma subsampling: PIL's
defaults, like VOC's Flickr JPEGs), ``semseg/pascal-context/<id>.png`` (the 21 VOC classes),
``sal_distill/<id>.png`` (0/255), ``normals_distill/<id>.png`` (RGB = 255 (n + 1) / 2),
``pascal-context/trainval/<id>.mat`` (``LabelMap``, uint16) and ``human_parts/<id>.mat`` (Pascal-Part's
``anno.objects``: every object with its VOC class and mask, each figure a person with one mask per part:
head, torso, luarm, llarm, luleg, llleg; a real Pascal-Part person has up to 24 part masks), the ``.mat``
files compressed as MATLAB's default ``save`` writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from mtbench.data.nyud import FILES
from mtbench.data.synthetic import generate
from mtbench.data.synthetic_scene import BOX, CYLINDER, FIGURE, PICTURE, SPHERE, TABLE
from mtbench.errors import UsageError

log = logging.getLogger(__name__)
# a fixed 16-colour palette for label maps (index 255 = ignore -> black)
PALETTE = np.array(
    [
        [128, 64, 128],
        [70, 70, 70],
        [190, 153, 153],
        [250, 170, 30],
        [220, 220, 0],
        [107, 142, 35],
        [220, 20, 60],
        [0, 0, 142],
        [152, 251, 152],
        [0, 130, 180],
        [255, 0, 0],
        [119, 11, 32],
        [0, 60, 100],
        [255, 255, 255],
        [70, 130, 180],
        [0, 80, 100],
    ],
    np.uint8,
)


LAYOUTS = ("nyud", "pascal_context")
# PASCAL layout: the scenes' classes as VOC classes (semseg, Pascal-Part objects; the rest background) and as
# PASCAL-Context label ids (LabelMap): fixed, arbitrary ids (wall = 440 as in PASCAL-Context); sphere, figure and
# rug get ids outside the loader's NORMALS_VALID_LABELS, so that the distilled normals' mask has work to do.
PASCAL_VOC = {BOX: 18, SPHERE: 16, CYLINDER: 5, FIGURE: 15, TABLE: 11, PICTURE: 20}  # sofa, plant, bottle, ...
PASCAL_CONTEXT_IDS = (158, 59, 440, 18, 7, 46, 8, 417, 324, 427)  # per scene class 0..9
PERSON_PARTS = ("head", "torso", "luarm", "llarm", "luleg", "llleg")  # the scenes' parts 1..6, Pascal-Part names


@dataclass
class SynthSummary:
    out: str
    counts: dict[str, int]
    size: tuple[int, int]
    contact_sheet: str
    layout: str = "nyud"


def parse_size(text: str) -> tuple[int, int]:
    """'128x160' -> (128, 160)."""
    try:
        h, w = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise UsageError(f"Bad size '{text}'; expected HxW, e.g. 128x160.") from None
    if h < 8 or w < 8:
        raise UsageError(f"Bad size '{text}'; both sides must be at least 8 pixels.")
    return h, w


def colorize(sample: dict[str, np.ndarray]) -> np.ndarray:
    """One row of the contact sheet: image | semseg | depth | normals | edge | saliency | human parts."""
    lab = lambda a: PALETTE[np.where(a == 255, 15, a % 15)]  # noqa: E731
    gray = lambda a: np.repeat((np.clip(a, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)  # noqa: E731
    d = sample["depth"]
    inv = np.where(d > 0, 1.0 / np.maximum(d, 1e-6), 0)  # near = bright
    tiles = [
        sample["image"],
        lab(sample["semseg"]),
        gray(inv / max(inv.max(), 1e-6)),
        ((sample["normals"] * [1, -1, 1] + 1) * 127.5).clip(0, 255).astype(np.uint8),  # RGB = (x, up, z)
        gray(sample["edge"].astype(np.float32)),
        gray(sample["saliency"].astype(np.float32)),
        lab(sample["human_parts"]),
    ]
    sep = np.full((sample["image"].shape[0], 2, 3), 255, np.uint8)
    return np.concatenate([t for tile in tiles for t in (tile, sep)][:-1], axis=1)


def _write_nyud(out: Path, name: str, s: dict[str, np.ndarray]) -> None:
    """One scene in the NYUD layout (plus saliency/ and human_parts/ PNGs)."""
    from PIL import Image

    Image.fromarray(s["image"]).save(out / "images" / f"{name}.jpg", quality=95, subsampling=0)
    Image.fromarray((s["semseg"] + 1).astype(np.uint8)).save(out / "segmentation" / f"{name}.png")
    Image.fromarray((s["saliency"] * 255).astype(np.uint8)).save(out / "saliency" / f"{name}.png")
    Image.fromarray(s["human_parts"]).save(out / "human_parts" / f"{name}.png")
    np.save(out / "depth" / f"{name}.npy", s["depth"])
    np.save(out / "normals" / f"{name}.npy", s["normals"])
    np.save(out / "edge" / f"{name}.npy", s["edge"].astype(np.float32))


PASCAL_FOLDERS = (
    "JPEGImages",
    "semseg/pascal-context",
    "sal_distill",
    "normals_distill",
    "pascal-context/trainval",
    "human_parts",
    "ImageSets/Context",
)


def pascal_parts_annotation(s: dict[str, np.ndarray]) -> dict:
    """Pascal-Part's ``anno`` of a scene: one object per instance of a VOC class (``PASCAL_VOC``) with its
    ``class_ind`` and mask; a figure (person) also has its parts (``PERSON_PARTS``), one mask each."""
    objects = []
    for inst in np.unique(s["instance"]):
        mask = s["instance"] == inst
        cls = int(np.bincount(s["semseg"][mask]).argmax())
        if cls not in PASCAL_VOC:
            continue
        parts = []
        if cls == FIGURE:
            parts = [(PERSON_PARTS[k - 1], mask & (s["human_parts"] == k)) for k in range(1, 7)]
            parts = [(pn, m) for pn, m in parts if m.any()]
        objects.append((PASCAL_VOC[cls], mask, parts))
    return pascal_parts_mat(objects, "synthetic")


def pascal_parts_mat(
    objects: Sequence[tuple[int, np.ndarray, Sequence[tuple[str, np.ndarray]]]], imname: str = "synthetic"
) -> dict:
    """Pascal-Part's ``anno`` struct (``savemat``'s input): ``objects(k).{class, class_ind, mask, parts(j).
    {part_name, mask}}`` from (VOC class index, object mask, [(part name, part mask)]) per object."""
    objs = np.zeros((1, len(objects)), dtype=[("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")])
    for k, (voc, mask, parts) in enumerate(objects):
        p = np.zeros((1, len(parts)), dtype=[("part_name", "O"), ("mask", "O")]) if parts else np.zeros((0, 0))
        for j, (part_name, m) in enumerate(parts):
            p[0, j]["part_name"], p[0, j]["mask"] = part_name, m.astype(np.uint8)
        objs[0, k]["class"], objs[0, k]["class_ind"] = "person" if voc == 15 else "object", np.array([[voc]])
        objs[0, k]["mask"], objs[0, k]["parts"] = mask.astype(np.uint8), p
    return {"anno": {"imname": imname, "objects": objs}}


def _write_pascal(out: Path, name: str, s: dict[str, np.ndarray]) -> None:
    """One scene in the PASCAL_MT layout (see the module docstring)."""
    from PIL import Image
    from scipy.io import savemat

    voc = np.zeros(256, np.uint8)
    for cls, v in PASCAL_VOC.items():
        voc[cls] = v
    normals = np.clip(np.round((s["normals"] + 1.0) * 127.5), 0, 255).astype(np.uint8)
    Image.fromarray(s["image"]).save(out / "JPEGImages" / f"{name}.jpg")
    Image.fromarray(voc[s["semseg"]]).save(out / "semseg" / "pascal-context" / f"{name}.png")
    Image.fromarray((s["saliency"] * 255).astype(np.uint8)).save(out / "sal_distill" / f"{name}.png")
    Image.fromarray(normals).save(out / "normals_distill" / f"{name}.png")
    label_map = np.asarray(PASCAL_CONTEXT_IDS, np.uint16)[s["semseg"]]
    savemat(out / "pascal-context" / "trainval" / f"{name}.mat", {"LabelMap": label_map}, do_compression=True)
    savemat(out / "human_parts" / f"{name}.mat", pascal_parts_annotation(s), do_compression=True)


def write_synthetic(
    out: str | Path,
    *,
    n: int = 16,
    size: tuple[int, int] = (128, 160),
    seed: int = 0,
    val_fraction: float = 0.25,
    sheet_rows: int = 8,
    layout: str = "nyud",
) -> SynthSummary:
    """Write ``n`` scenes (the last ``val_fraction`` as the val split) under ``out`` in the NYUD layout, or
    PASCAL-Context's (``layout="pascal_context"``, see the module docstring)."""
    from PIL import Image

    if layout not in LAYOUTS:
        raise UsageError(f"Unknown layout '{layout}'; valid: {', '.join(LAYOUTS)}.")
    if n < 2:
        raise UsageError(f"Option --n must be at least 2 (a train and a val sample), got {n}.")
    out = Path(out)
    n_val = min(max(1, int(round(n * val_fraction))), n - 1)
    counts = {"train": n - n_val, "val": n_val}
    pascal = layout == "pascal_context"
    folders = PASCAL_FOLDERS if pascal else [folder for folder, _ in FILES.values()] + ["gt_sets"]
    for folder in folders:
        (out / folder).mkdir(parents=True, exist_ok=True)
    rows: list[np.ndarray] = []
    for split, count in counts.items():
        names = []
        for i in range(count):
            s = generate(seed, split, i, size)
            name = f"synthetic_{split}_{i:05d}"
            (_write_pascal if pascal else _write_nyud)(out, name, s)
            names.append(name)
            if len(rows) < sheet_rows:
                rows.append(colorize(s))
        split_file = out / "ImageSets" / "Context" / f"{split}.txt" if pascal else out / "gt_sets" / f"{split}.txt"
        split_file.write_text("".join(f"{nm}\n" for nm in names))
    sheet = out / "contact_sheet.png"
    sep = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    Image.fromarray(np.concatenate([t for r in rows for t in (r, sep)][:-1], axis=0)).save(sheet)
    log.info("wrote %d synthetic scenes to %s (%s layout)", n, out, layout)
    return SynthSummary(str(out), counts, cast(tuple[int, int], tuple(size)), str(sheet), layout)
