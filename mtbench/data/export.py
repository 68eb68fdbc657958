"""``mtbench data synth``: write synthetic scenes to disk in the NYUD layout, plus a PNG contact sheet.

Sample ``synthetic_<split>_<index>`` on disk is ``synthetic.generate(seed, split, index, size)``: the
same scene that ``build_dataset("synthetic", ...)`` renders on the fly (images stored as JPEG,
quality 95, no chroma subsampling).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from mtbench.data.nyud import FILES
from mtbench.data.synthetic import generate
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


@dataclass
class SynthSummary:
    out: str
    counts: dict[str, int]
    size: tuple[int, int]
    contact_sheet: str


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


def write_synthetic(
    out: str | Path,
    *,
    n: int = 16,
    size: tuple[int, int] = (128, 160),
    seed: int = 0,
    val_fraction: float = 0.25,
    sheet_rows: int = 8,
) -> SynthSummary:
    """Write ``n`` scenes (the last ``val_fraction`` as the val split) under ``out`` in the NYUD layout."""
    from PIL import Image

    if n < 2:
        raise UsageError(f"Option --n must be at least 2 (a train and a val sample), got {n}.")
    out = Path(out)
    n_val = min(max(1, int(round(n * val_fraction))), n - 1)
    counts = {"train": n - n_val, "val": n_val}
    for folder, _ in FILES.values():
        (out / folder).mkdir(parents=True, exist_ok=True)
    (out / "gt_sets").mkdir(parents=True, exist_ok=True)
    rows: list[np.ndarray] = []
    for split, count in counts.items():
        names = []
        for i in range(count):
            s = generate(seed, split, i, size)
            name = f"synthetic_{split}_{i:05d}"
            Image.fromarray(s["image"]).save(out / "images" / f"{name}.jpg", quality=95, subsampling=0)
            Image.fromarray((s["semseg"] + 1).astype(np.uint8)).save(out / "segmentation" / f"{name}.png")
            Image.fromarray((s["saliency"] * 255).astype(np.uint8)).save(out / "saliency" / f"{name}.png")
            Image.fromarray(s["human_parts"]).save(out / "human_parts" / f"{name}.png")
            np.save(out / "depth" / f"{name}.npy", s["depth"])
            np.save(out / "normals" / f"{name}.npy", s["normals"])
            np.save(out / "edge" / f"{name}.npy", s["edge"].astype(np.float32))
            names.append(name)
            if len(rows) < sheet_rows:
                rows.append(colorize(s))
        (out / "gt_sets" / f"{split}.txt").write_text("".join(f"{nm}\n" for nm in names))
    sheet = out / "contact_sheet.png"
    sep = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    Image.fromarray(np.concatenate([t for r in rows for t in (r, sep)][:-1], axis=0)).save(sheet)
    log.info("wrote %d synthetic scenes to %s", n, out)
    return SynthSummary(str(out), counts, cast(tuple[int, int], tuple(size)), str(sheet))
