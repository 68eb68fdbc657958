"""Joint transforms on raw samples (dict of tensors, see ``mtbench.data.common``) that keep every target
aligned with the image. Each transform is ``t(sample, generator) -> sample``; randomness only from the
given ``torch.Generator``.

Geometry conventions: image axes x right, y down; normals use the same x and y axes (NYUD convention,
z towards the camera), so a horizontal flip negates normals x and an in-plane rotation rotates (x, y).
Scaling an image by s (zoom in for s > 1) divides depth by s: the scene looks s times nearer.

Two families: the synthetic default's (``RandomScale`` + ``RandomCropPad`` + ``PhotometricJitter``) and
the MTI-Net release's for NYUD and PASCAL-Context (``RandomAffine`` = its ScaleNRotate, ``FixedResize``,
and ``EvalResize`` for testing), which use the release's interpolation per map (its utils/config.py
FLAGVALS: cv2 INTER_CUBIC for the image and normals, INTER_NEAREST for every other target).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F

from mtbench.data.common import FILL, IGNORE
from mtbench.errors import DataError

Sample = dict[str, torch.Tensor]


def _rand(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand(1, generator=g))


def _spatial(sample: Sample) -> list[str]:
    return [k for k, v in sample.items() if isinstance(v, torch.Tensor) and v.dim() >= 2]


def _as_4d(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    return (x[None, None].float(), True) if x.dim() == 2 else (x[None].float(), False)


def _back(y: torch.Tensor, was_2d: bool, like: torch.Tensor) -> torch.Tensor:
    y = y[0, 0] if was_2d else y[0]
    return y.round().to(like.dtype) if not like.is_floating_point() else y


class Compose:
    def __init__(self, transforms: list[Callable]):
        self.transforms = transforms

    def __call__(self, sample: Sample, g: torch.Generator) -> Sample:
        for t in self.transforms:
            sample = t(sample, g)
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


class RandomHorizontalFlip:
    """Flip with probability p; normals' x component is negated."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, sample: Sample, g: torch.Generator) -> Sample:
        if _rand(g) >= self.p:
            return sample
        for k in _spatial(sample):
            sample[k] = sample[k].flip(-1)
        if "normals" in sample:
            sample["normals"] = sample["normals"] * torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
        return sample


def resize(sample: Sample, size: tuple[int, int]) -> Sample:
    """Resize every map to ``size`` (bilinear image, nearest targets); depth is NOT rescaled here."""
    for k in _spatial(sample):
        x, was_2d = _as_4d(sample[k])
        if k == "image":
            y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
        else:
            y = F.interpolate(x, size=size, mode="nearest-exact")  # pixel-centre aligned, like bilinear
        sample[k] = _back(y, was_2d, sample[k])
    return sample


class RandomScale:
    """Zoom by s drawn from ``scales`` (a list: uniform choice; a (lo, hi) tuple: uniform range); depth /= s."""

    def __init__(self, scales: list[float] | tuple[float, float]):
        self.scales = scales

    def __call__(self, sample: Sample, g: torch.Generator) -> Sample:
        if isinstance(self.scales, list):
            s = self.scales[int(torch.randint(len(self.scales), (1,), generator=g))]
        else:
            s = _rand(g, *self.scales)
        if s == 1.0:
            return sample
        h, w = sample["image"].shape[-2:]
        sample = resize(sample, (max(1, round(h * s)), max(1, round(w * s))))
        if "depth" in sample:
            sample["depth"] = sample["depth"] / s
        return sample


class RandomRotate:
    """Rotate by an angle in [-max_deg, max_deg] (counter-clockwise as displayed); normals rotate with it."""

    def __init__(self, max_deg: float):
        self.max_deg = max_deg

    def __call__(self, sample: Sample, g: torch.Generator) -> Sample:
        return rotate(sample, _rand(g, -self.max_deg, self.max_deg))


def rotate(sample: Sample, deg: float) -> Sample:
    """Rotate all maps about the image centre by ``deg`` (counter-clockwise as displayed), filling with FILL."""
    if deg == 0:
        return sample
    h, w = sample["image"].shape[-2:]
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    # output pixel p' (centred, y down) samples the input at R^-1 p', R = [[c, s], [-s, c]] in y-down axes
    theta = torch.tensor([[c, -s * h / w, 0.0], [s * w / h, c, 0.0]], dtype=torch.float32)[None]
    grid = F.affine_grid(theta, [1, 1, h, w], align_corners=False)
    for k in _spatial(sample):
        x, was_2d = _as_4d(sample[k])
        mode = "bilinear" if k == "image" else "nearest"
        fill = FILL.get(k, 0.0)
        # shift so that zero padding yields the fill value outside the image (ignore / invalid)
        y = F.grid_sample(x - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill
        sample[k] = _back(y, was_2d, sample[k])
    if "normals" in sample:
        n = sample["normals"]
        nx, ny = c * n[0] + s * n[1], -s * n[0] + c * n[1]
        sample["normals"] = torch.stack([nx, ny, n[2]])
    return sample


def pad_to(sample: Sample, size: tuple[int, int]) -> Sample:
    """Pad bottom/right to at least ``size`` with each task's fill value (ignore / invalid)."""
    h, w = sample["image"].shape[-2:]
    if size[0] <= h and size[1] <= w:
        return sample
    for k in _spatial(sample):
        sample[k] = _pad_map(sample[k], size, FILL.get(k, 0.0))
    return sample


def _pad_map(x: torch.Tensor, size: tuple[int, int], fill: float) -> torch.Tensor:
    """Pad one map bottom/right to at least ``size`` with ``fill``."""
    ph, pw = max(size[0] - x.shape[-2], 0), max(size[1] - x.shape[-1], 0)
    if ph == 0 and pw == 0:
        return x
    return F.pad(x.float() if not x.is_floating_point() else x, (0, pw, 0, ph), value=float(fill)).to(x.dtype)


class PadTo:
    def __init__(self, size: tuple[int, int]):
        self.size = cast(tuple[int, int], tuple(size))  # (H, W), possibly given as a list

    def __call__(self, sample: Sample, g: torch.Generator | None = None) -> Sample:
        return pad_to(sample, self.size)


class RandomCropPad:
    """Pad to ``size`` if smaller, then crop a random ``size`` window."""

    def __init__(self, size: tuple[int, int]):
        self.size = cast(tuple[int, int], tuple(size))  # (H, W), possibly given as a list

    def __call__(self, sample: Sample, g: torch.Generator) -> Sample:
        sample = pad_to(sample, self.size)
        h, w = sample["image"].shape[-2:]
        y0 = int(torch.randint(h - self.size[0] + 1, (1,), generator=g))
        x0 = int(torch.randint(w - self.size[1] + 1, (1,), generator=g))
        for k in _spatial(sample):
            sample[k] = sample[k][..., y0 : y0 + self.size[0], x0 : x0 + self.size[1]].contiguous()
        return sample


class PhotometricJitter:
    """Brightness, contrast and saturation factors in [1 - a, 1 + a]; the image only, kept in [0, 1]."""

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2):
        self.b, self.c, self.s = brightness, contrast, saturation

    def __call__(self, sample: Sample, g: torch.Generator) -> Sample:
        img = sample["image"] * _rand(g, 1 - self.b, 1 + self.b)
        gray = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
        img = (img - gray.mean()) * _rand(g, 1 - self.c, 1 + self.c) + gray.mean()
        img = (img - gray) * _rand(g, 1 - self.s, 1 + self.s) + gray
        sample["image"] = img.clamp_(0, 1)
        return sample


# ---- the MTI-Net release's geometry (NYUD, PASCAL-Context) ----------------------------------------------

CUBIC = ("image", "normals")  # the release's cv2.INTER_CUBIC maps; every other target INTER_NEAREST


def _sample_map(x: torch.Tensor, grid: torch.Tensor, mode: str) -> torch.Tensor:
    """grid_sample of one C×H×W (or H×W) map, zeros outside (cv2 BORDER_CONSTANT, value 0)."""
    y, was_2d = _as_4d(x)
    out = F.grid_sample(y, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return _back(out, was_2d, x)


def affine_warp(sample: Sample, deg: float, scale: float) -> Sample:
    """The release's ScaleNRotate: one affine warp of every map at its own (original) size.

    Rotation by ``deg`` (counter-clockwise as displayed) and zoom by ``scale`` about (W/2, H/2) in pixel
    index coordinates (cv2.getRotationMatrix2D's centre; pixel centres at integers): the output pixel p
    shows the input at c + R^T (p - c) / scale with R = [[cos, sin], [-sin, cos]] (x right, y down).
    Image and normals bicubic (a = -0.75, cv2's INTER_CUBIC), other targets nearest. Outside the input
    every map is 0, as cv2.warpAffine's default border: black image, background (semseg, human parts),
    not salient, no edge, depth 0 and zero normals (both invalid). A human-parts map that is all IGNORE
    (no annotated person) stays all IGNORE (the release marks such maps after the warp). Normals' (x, y)
    rotate by R; depth is divided by ``scale``. Normals are renormalised by ``FixedResize``, as in the release.
    """
    if deg == 0 and scale == 1:
        return sample
    h, w = sample["image"].shape[-2:]
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    dx = torch.arange(w, dtype=torch.float64) - w / 2
    dy = torch.arange(h, dtype=torch.float64)[:, None] - h / 2
    src_x = (c * dx - s * dy) / scale + w / 2
    src_y = (s * dx + c * dy) / scale + h / 2
    src_x, src_y = src_x.expand(h, w), src_y.expand(h, w)

    def grid(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # grid_sample (align_corners=False) reads pixel index i at normalised (2 i + 1) / size - 1
        return torch.stack([(2 * x + 1) / w - 1, (2 * y + 1) / h - 1], dim=-1).float()[None]

    cubic = grid(src_x, src_y)
    # nearest as cv2: index floor(x + 0.5) (ties up; grid_sample's own rounding breaks ties to even)
    nearest = grid(torch.floor(src_x + 0.5), torch.floor(src_y + 0.5))
    for k in _spatial(sample):
        x = sample[k]
        if k == "human_parts" and bool((x == IGNORE).all()):
            continue
        if k == "normals":
            x = torch.stack([c * x[0] + s * x[1], -s * x[0] + c * x[1], x[2]])
        sample[k] = _sample_map(x, cubic, "bicubic") if k in CUBIC else _sample_map(x, nearest, "nearest")
    if "depth" in sample:
        sample["depth"] = sample["depth"] / scale
    return sample


class RandomAffine:
    """The release's ScaleNRotate with random parameters: angle uniform in [-max_deg, max_deg] (0: none);
    scale drawn from ``scales`` (a list: uniform choice, NYUD {1, 1.2, 1.5}; a (lo, hi) tuple: uniform
    range, PASCAL (0.75, 1.25)). See ``affine_warp``."""

    def __init__(self, max_deg: float, scales: list[float] | tuple[float, float]):
        self.max_deg, self.scales = float(max_deg), scales

    def __call__(self, sample: Sample, g: torch.Generator) -> Sample:
        deg = _rand(g, -self.max_deg, self.max_deg) if self.max_deg else 0.0
        if isinstance(self.scales, list):
            s = self.scales[int(torch.randint(len(self.scales), (1,), generator=g))]
        else:
            s = _rand(g, *self.scales)
        return affine_warp(sample, deg, float(s))

    def __repr__(self) -> str:
        return f"RandomAffine(max_deg={self.max_deg}, scales={self.scales})"


def renormalize_normals(n: torch.Tensor) -> torch.Tensor:
    """n / (|n| + float32 eps), as the release's FixedResize: zero vectors (invalid) stay zero."""
    return n / (n.norm(dim=0, keepdim=True) + torch.finfo(torch.float32).eps)


def resize_map(x: torch.Tensor, size: tuple[int, int], key: str) -> torch.Tensor:
    """One map to ``size`` with the release's interpolation: bicubic (a = -0.75, no antialiasing, cv2's
    INTER_CUBIC) for the image and normals, else nearest with source index floor(i * in / out)
    (cv2's INTER_NEAREST). Same size: unchanged (cv2.resize copies)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    y, was_2d = _as_4d(x)
    mode = "bicubic" if key in CUBIC else "nearest"
    out = F.interpolate(y, size=tuple(size), mode=mode, **({"align_corners": False} if mode == "bicubic" else {}))
    return _back(out, was_2d, x)


class FixedResize:
    """The release's FixedResize: every map to ``size`` (H, W), aspect ratio not kept (``resize_map``);
    normals renormalised afterwards (also at an unchanged size), the image clamped to [0, 1]."""

    def __init__(self, size: tuple[int, int]):
        self.size = cast(tuple[int, int], tuple(size))  # (H, W), possibly given as a list

    def __call__(self, sample: Sample, g: torch.Generator | None = None) -> Sample:
        for k in _spatial(sample):
            sample[k] = resize_map(sample[k], self.size, k)
        if "normals" in sample:
            sample["normals"] = renormalize_normals(sample["normals"])
        sample["image"] = sample["image"].clamp_(0, 1)
        return sample

    def __repr__(self) -> str:
        return f"FixedResize({self.size})"


class EvalResize:
    """Testing as the release: the image resized to ``size`` (bicubic) for the model; the targets stay at
    the original size (the release scores predictions resized back to it) and are padded bottom/right to
    ``canvas`` with each task's ignore value, so that a batch stacks. The sample's ``meta["size"]`` (the
    original size) tells ``evaluate`` where the target ends and to which size to resize predictions."""

    def __init__(self, size: tuple[int, int], canvas: tuple[int, int]):
        # (H, W) each, possibly given as lists
        self.size, self.canvas = cast(tuple[int, int], tuple(size)), cast(tuple[int, int], tuple(canvas))

    def __call__(self, sample: Sample, g: torch.Generator | None = None) -> Sample:
        h, w = sample["image"].shape[-2:]
        if h > self.canvas[0] or w > self.canvas[1]:
            raise DataError(
                f"Image of {h}x{w} is larger than the evaluation canvas {self.canvas[0]}x"
                f"{self.canvas[1]} that holds original-size targets; set the dataset option "
                f"eval_canvas=[H, W] (--set data.options.eval_canvas=[{max(h, self.canvas[0])}, "
                f"{max(w, self.canvas[1])}])."
            )
        for k in _spatial(sample):
            if k != "image":
                sample[k] = _pad_map(sample[k], self.canvas, FILL.get(k, 0.0))
        sample["image"] = resize_map(sample["image"], self.size, "image").clamp_(0, 1)
        return sample

    def __repr__(self) -> str:
        return f"EvalResize(size={self.size}, canvas={self.canvas})"
