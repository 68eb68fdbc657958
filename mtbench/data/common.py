"""Shared pieces of the dataset loaders: file readers that raise one-line DataErrors, the common sample
format (numpy arrays -> tensors), ImageNet normalisation and the base Dataset class.

Raw samples (before transforms) are dicts of tensors: "image" float32 3×H×W in [0, 1], "semseg" and
"human_parts" int64 H×W (255 = ignore), "depth" float32 1×H×W metres (0 = invalid), "normals" float32
3×H×W (zero vector = invalid), "edge" and "saliency" float32 1×H×W in {0, 1} (255 = ignore).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mtbench.errors import DataError

IGNORE = 255
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
# value that marks "no target" per task, used when padding or rotating
FILL = {
    "image": 0.0,
    "semseg": IGNORE,
    "human_parts": IGNORE,
    "depth": 0.0,
    "normals": 0.0,
    "edge": IGNORE,
    "saliency": IGNORE,
}
LABEL_TASKS = ("semseg", "human_parts")


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 H×W×3; a missing or unreadable file raises DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"Missing file '{path}'.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"Corrupt or unreadable image '{path}' ({type(e).__name__}).") from None


def read_png_array(path: str | Path) -> np.ndarray:
    """A single-channel PNG (labels, saliency) as an H×W integer array."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except FileNotFoundError:
        raise DataError(f"Missing file '{path}'.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"Corrupt or unreadable image '{path}' ({type(e).__name__}).") from None
    if arr.ndim == 3:  # saved as RGB(A) by some tools: all channels are equal
        arr = arr[..., 0]
    return arr


def read_npy(path: str | Path) -> np.ndarray:
    """A ``.npy`` array as data: ``allow_pickle=False`` (an object array, i.e. a pickle, is refused, never
    unpickled); one-line DataError naming the file otherwise."""
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"Missing file '{path}'.") from None
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"Corrupt or unreadable array '{path}': {' '.join(str(e).split())}.") from None
    if not isinstance(a, np.ndarray):  # an .npz archive under a .npy name
        a.close()
        raise DataError(f"Corrupt or unreadable array '{path}': an .npz archive, not one .npy array.")
    return a


def read_mat(path: str | Path) -> dict:
    """A MATLAB ``.mat`` file through SciPy's ``loadmat``, which only parses data (no pickles, no code);
    one-line DataError naming the file when it cannot be read."""
    from scipy.io import loadmat

    try:
        return loadmat(str(path))
    except FileNotFoundError:
        raise DataError(f"Missing file '{path}'.") from None
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError, NotImplementedError (v7.3)...
        raise DataError(f"Corrupt or unreadable .mat file '{path}': {' '.join(str(e).split())}.") from None


def read_split(root: Path, split_file: Path) -> list[str]:
    """Sample ids of a split file (one per line); DataErrors for a missing root or split file."""
    if not root.is_dir():
        raise DataError(f"Dataset root '{root}' does not exist or is not a folder.")
    if not split_file.is_file():
        raise DataError(f"Missing split file '{split_file}'.")
    ids = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f"Split file '{split_file}' lists no samples.")
    return ids


def present_samples(
    ids: list[str], split_file: Path, paths: Callable[[str], list[Path]], *, strict: bool, problems: list[str]
) -> list[str]:
    """The ids of ``split_file`` whose files all exist. A missing file raises DataError when ``strict``
    (training), else its message is appended to ``problems`` (``mtbench data check``)."""
    kept = []
    for i in ids:
        missing = [p for p in paths(i) if not p.is_file()]
        if not missing:
            kept.append(i)
            continue
        msg = f"Split file '{split_file}' names sample '{i}' but '{missing[0]}' is missing."
        if strict:
            raise DataError(msg)
        problems.append(msg)
    return kept


def check_labels(arr: np.ndarray, num_classes: int, path: str | Path, task: str) -> None:
    bad = (arr >= num_classes) & (arr != IGNORE) | (arr < 0)
    if bad.any():
        vals = np.unique(arr[bad])[:5].tolist()
        raise DataError(
            f"Label out of range in '{path}': {task} values {vals} not in 0..{num_classes - 1} or {IGNORE} (ignore)."
        )


def check_same_size(sample: dict[str, np.ndarray], paths: dict[str, str]) -> None:
    size = sample["image"].shape[:2]
    for task, arr in sample.items():
        if task != "image" and arr.shape[:2] != size:
            raise DataError(
                f"Size mismatch in '{paths.get(task, task)}': {task} is {arr.shape[0]}x{arr.shape[1]}, "
                f"image '{paths.get('image')}' is {size[0]}x{size[1]}."
            )


def to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """H×W(×C) numpy arrays -> raw-sample tensors (see module docstring)."""
    out: dict[str, torch.Tensor] = {}
    for task, a in arrays.items():
        if task == "image":
            out[task] = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float().div_(255.0)
        elif task in LABEL_TASKS:
            out[task] = torch.from_numpy(a.astype(np.int64))
        elif task == "normals":
            out[task] = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))
        elif task in ("depth", "edge", "saliency"):
            out[task] = torch.from_numpy(np.ascontiguousarray(a.reshape(a.shape[:2]), dtype=np.float32))[None]
    return out


def seism_edges(labels: np.ndarray) -> np.ndarray:
    """SEISM's boundary ground truth of a label map, ``bwmorph(seg2bmap(L), 'thin', Inf)``: pixels whose
    label differs from the east, south or south-east neighbour (one-sided), thinned to 1 px."""
    from mtbench.metrics.boundary.evaluate import seg_to_boundary
    from mtbench.metrics.boundary.thin import thin

    return thin(seg_to_boundary(labels)).astype(np.float32)


def normalize_image(sample: dict[str, Any]) -> dict[str, Any]:
    sample["image"] = (sample["image"] - MEAN) / STD
    return sample


class MultiTaskDataset(Dataset):
    """Base class: ``load(index)`` gives raw tensors, then the transform, then ImageNet normalisation.

    The transform's randomness comes from ``torch.Generator`` seeded by (seed, split, index, epoch), so
    a sample never depends on the worker or the order; call ``set_epoch`` to vary augmentation per epoch.
    """

    split_code = {"train": 0, "val": 1, "test": 2}

    def __init__(self, split: str, tasks: list[str], transform: Callable | None, seed: int):
        self.split, self.tasks, self.transform, self.seed = split, list(tasks), transform, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self, index: int) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.names())

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        sample: dict[str, Any] = self.load(index)  # tensors, then "meta" (a dict) added below
        size = list(sample["image"].shape[-2:])
        if self.transform is not None:
            g = torch.Generator().manual_seed(
                int(
                    np.random.SeedSequence(
                        [self.seed, self.split_code.get(self.split, 9), index, self.epoch]
                    ).generate_state(1)[0]
                )
            )
            sample = self.transform(sample, g)
        sample = normalize_image(sample)
        sample["meta"] = {"name": self.names()[index], "size": size}
        return sample


def env_root(name: str) -> str | None:
    """Default dataset root from $MTBENCH_DATA/<name> when set."""
    base = os.environ.get("MTBENCH_DATA")
    return str(Path(base) / name) if base else None
