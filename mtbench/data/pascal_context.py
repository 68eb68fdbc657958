"""PASCAL-Context, multi-task version (the MTI-Net release's PASCAL_MT layout), 4998 train / 5105 val.

Layout under ``root`` (what the release reads; we read the same files):

    ImageSets/Context/{train,val}.txt       sample ids
    JPEGImages/<id>.jpg                     RGB, variable size (about 500×375)
    semseg/VOC12/<id>.png, else semseg/pascal-context/<id>.png
                                            21 classes (0 background, 1..20 VOC), 255 = ignore
    human_parts/<id>.mat                    Pascal-Part annotation: anno.objects(k).{class_ind, mask,
                                            parts(j).{part_name, mask}}; the person objects
                                            (class_ind 15) give 6 parts + background; images without
                                            annotated people are ignored (all 255)
    sal_distill/<id>.png                    saliency, 0..255, > 127 = salient
    normals_distill/<id>.png                normals as RGB, n = 2 * v / 255 - 1, kept only on pixels whose
                                            PASCAL-Context label is one of NORMALS_VALID_LABELS
    pascal-context/trainval/<id>.mat        'LabelMap' (459-class PASCAL-Context labels); edges are its
                                            boundaries: for training as the release's target (a
                                            4-neighbour differs, thinned), for evaluation SEISM's
                                            ground truth (``seism_edges``)

Edge ground truth at evaluation: the MTI-Net release scores edges with SEISM on PASCAL-Context only
(evaluation/eval_edge.py); SEISM reads the LabelMap (src/gt_wrappers/db_gt.m, 'PASCALContext'),
relabels it and edgesEvalImg.m turns it into boundaries with seg2bmap, thinned: the one-sided boundary
``seism_edges`` computes, not the two-sided training target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mtbench.data.common import (
    IGNORE,
    MultiTaskDataset,
    check_labels,
    check_same_size,
    present_samples,
    read_image,
    read_png_array,
    read_split,
    seism_edges,
    to_tensors,
)
from mtbench.errors import DataError

PERSON = 15  # VOC / Pascal-Part class index of "person"
# Pascal-Part person part names -> the 6 human-part classes used by MTI-Net and later work
PART_GROUPS = {
    1: ("hair", "head", "lear", "rear", "lebrow", "rebrow", "leye", "reye", "mouth", "nose"),
    2: ("neck", "torso"),
    3: ("luarm", "ruarm"),
    4: ("llarm", "rlarm", "lhand", "rhand"),
    5: ("luleg", "ruleg"),
    6: ("llleg", "rlleg", "lfoot", "rfoot"),
}
# class names (mtbench show's legend): the 20 VOC classes and background; the 6 human-part groups above
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
HUMAN_PARTS = ("background", "head", "torso", "upper arm", "lower arm", "upper leg", "lower leg")
PART_ID = {name: k for k, names in PART_GROUPS.items() for name in names}
# PASCAL-Context label ids (of the 459) whose class names also occur in NYUD's label list (where the
# distilled normals were learnt), plus 427 'tvmonitor'; derived from the two class lists of the MTI-Net
# release (data/db_info/{context,nyu}_classes.json): distilled normals elsewhere are invalid.
NORMALS_VALID_LABELS = frozenset(
    (
        3,
        4,
        6,
        9,
        10,
        11,
        13,
        15,
        17,
        18,
        22,
        23,
        29,
        30,
        33,
        34,
        36,
        37,
        38,
        39,
        41,
        43,
        46,
        49,
        50,
        51,
        53,
        55,
        56,
        59,
        61,
        62,
        65,
        66,
        68,
        69,
        72,
        73,
        78,
        83,
        84,
        85,
        87,
        88,
        95,
        96,
        101,
        104,
        105,
        107,
        111,
        113,
        115,
        122,
        124,
        135,
        141,
        142,
        143,
        146,
        150,
        154,
        157,
        158,
        159,
        165,
        172,
        174,
        181,
        183,
        184,
        191,
        193,
        195,
        197,
        199,
        202,
        213,
        215,
        216,
        219,
        220,
        223,
        225,
        228,
        230,
        232,
        233,
        238,
        239,
        242,
        243,
        246,
        250,
        251,
        252,
        255,
        260,
        261,
        263,
        269,
        272,
        273,
        275,
        281,
        283,
        284,
        285,
        286,
        287,
        288,
        290,
        291,
        292,
        293,
        295,
        304,
        307,
        309,
        310,
        314,
        315,
        319,
        323,
        329,
        330,
        331,
        336,
        342,
        345,
        349,
        350,
        351,
        352,
        355,
        357,
        368,
        370,
        371,
        374,
        379,
        380,
        383,
        384,
        397,
        401,
        403,
        405,
        407,
        408,
        411,
        412,
        413,
        414,
        417,
        419,
        421,
        423,
        427,
        429,
        430,
        432,
        440,
        441,
        442,
        443,
        444,
        446,
        454,
        457,
    )
)


def _loadmat(path: Path) -> dict:
    from mtbench.data.common import read_mat

    return read_mat(path)


def read_label_map(path: Path) -> np.ndarray:
    mat = _loadmat(path)
    if "LabelMap" not in mat:
        raise DataError(f"'{path}' has no 'LabelMap' variable (PASCAL-Context trainval annotation expected).")
    return np.asarray(mat["LabelMap"]).astype(np.int64)


def label_boundaries(labels: np.ndarray) -> np.ndarray:
    """1-px boundaries of a label map: pixels with a differing 4-neighbour, thinned (skimage)."""
    from skimage.morphology import thin

    e = np.zeros(labels.shape, bool)
    dy, dx = labels[1:] != labels[:-1], labels[:, 1:] != labels[:, :-1]
    e[1:] |= dy
    e[:-1] |= dy
    e[:, 1:] |= dx
    e[:, :-1] |= dx
    return thin(e).astype(np.float32)


def read_human_parts(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Part labels 0..6 of the annotated people, or all IGNORE if the image has none."""
    mat = _loadmat(path)
    try:
        objects = mat["anno"]["objects"][0, 0]
        target = None
        for k in range(objects.shape[1]):
            obj = objects[0, k]
            parts = obj["parts"]
            if int(np.asarray(obj["class_ind"]).ravel()[0]) != PERSON or parts.size == 0:
                continue
            if target is None:
                target = np.zeros(np.asarray(obj["mask"]).shape, np.int64)
            for j in range(parts.shape[1]):
                name = str(np.asarray(parts[0, j]["part_name"]).ravel()[0])
                if name not in PART_ID:
                    raise DataError(f"Unknown person part '{name}' in '{path}'.")
                target[np.asarray(parts[0, j]["mask"]).astype(bool)] = PART_ID[name]
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise DataError(
            f"'{path}' is not a Pascal-Part annotation (anno.objects with class_ind, mask, parts): "
            f"{type(e).__name__}: {e}."
        ) from None
    return np.full(shape, IGNORE, np.int64) if target is None else target


class PascalContextDataset(MultiTaskDataset):
    """Reads the PASCAL_MT layout above; semseg 21 classes, human_parts 7. ``eval_edges``: the edge
    target is SEISM's evaluation ground truth (``seism_edges``) instead of the training target."""

    num_classes = {"semseg": 21, "human_parts": 7}
    classes = VOC_CLASSES
    parts = HUMAN_PARTS

    def __init__(
        self,
        root: str | Path,
        split: str,
        tasks: list[str],
        *,
        transform=None,
        seed: int = 0,
        n: int | None = None,
        strict: bool = True,
        eval_edges: bool = False,
    ):
        super().__init__(split, tasks, transform, seed)
        self.root = Path(root)
        self.eval_edges = eval_edges
        split_file = self.root / "ImageSets" / "Context" / f"{split}.txt"
        self.problems: list[str] = []
        kept = present_samples(
            read_split(self.root, split_file),
            split_file,
            lambda i: list(self.paths(i).values()),
            strict=strict,
            problems=self.problems,
        )
        self.ids = kept[:n] if n is not None else kept

    def paths(self, sample_id: str) -> dict[str, Path]:
        r = self.root
        p = {"image": r / "JPEGImages" / f"{sample_id}.jpg"}
        for task in self.tasks:
            if task == "semseg":
                voc = r / "semseg" / "VOC12" / f"{sample_id}.png"
                p[task] = voc if voc.is_file() else r / "semseg" / "pascal-context" / f"{sample_id}.png"
            elif task == "human_parts":
                p[task] = r / "human_parts" / f"{sample_id}.mat"
            elif task == "saliency":
                p[task] = r / "sal_distill" / f"{sample_id}.png"
            elif task == "normals":
                p[task] = r / "normals_distill" / f"{sample_id}.png"
        if "edge" in self.tasks or "normals" in self.tasks:
            p["context"] = r / "pascal-context" / "trainval" / f"{sample_id}.mat"
        return p

    def names(self) -> list[str]:
        return self.ids

    def read(self, sample_id: str) -> dict[str, np.ndarray]:
        paths = self.paths(sample_id)
        img = read_image(paths["image"])
        out = {"image": img}
        labels = read_label_map(paths["context"]) if "context" in paths else None
        sizes = dict(out, **({"context": labels} if labels is not None else {}))
        for task in self.tasks:
            # paths() has a file for each of these tasks, and "context" whenever edge is asked for
            if task == "semseg":
                p = paths[task]
                out[task] = read_png_array(p).astype(np.int64)
                check_labels(out[task], self.num_classes["semseg"], p, task)
            elif task == "human_parts":
                p = paths[task]
                out[task] = read_human_parts(p, img.shape[:2])
                check_labels(out[task], self.num_classes["human_parts"], p, task)
            elif task == "saliency":
                out[task] = (read_png_array(paths[task]) > 127).astype(np.float32)
            elif task == "normals":
                rgb = read_image(paths[task]).astype(np.float32)
                n = 2.0 * rgb / 255.0 - 1.0
                if labels is not None and labels.shape == n.shape[:2]:
                    n[~np.isin(labels, list(NORMALS_VALID_LABELS))] = 0.0
                out[task] = n
            elif task == "edge":
                if labels is None:  # not reached (see above)
                    raise DataError(f"PASCAL-Context sample {sample_id}: no label map for the edge task")
                out[task] = seism_edges(labels) if self.eval_edges else label_boundaries(labels)
            if task in out:
                sizes[task] = out[task]
        check_same_size(sizes, {k: str(v) for k, v in paths.items()})
        return out

    def load(self, index: int) -> dict[str, torch.Tensor]:
        return to_tensors(self.read(self.ids[index]))


def build(
    spec, root: Path, split: str, tasks: list[str], *, train: bool = False, size=None, **common
) -> PascalContextDataset:
    """PASCAL-Context's ``DatasetSpec.builder`` (``common``: transform, seed, n, strict; the input ``size`` is
    the transforms'): evaluation edge targets are SEISM's ground truth."""
    return PascalContextDataset(root, split, tasks, eval_edges=not train, **common)
