"""Joint transforms on raw samples (dict of tensors, see ``mtbench.data.common``) that keep every target
aligned with the image. Each transform is ``t(sample, generator) -> sample``; randomness only from the
given ``torch.Generator``.

Geometry conventions: image axes x right, y down; normals use the same x and y axes (NYUD convention,
z towards the camera), so a horizontal flip negates normals x and an in-plane rotation rotates (x, y).
Scaling an image by s (zoom in for s > 1) divides depth by s: the scene looks s times nearer.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from mtbench.data.common import FILL

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
    ph, pw = max(size[0] - h, 0), max(size[1] - w, 0)
    if ph == 0 and pw == 0:
        return sample
    for k in _spatial(sample):
        x = sample[k]
        sample[k] = F.pad(x.float() if not x.is_floating_point() else x, (0, pw, 0, ph),
                          value=float(FILL.get(k, 0.0))).to(x.dtype)
    return sample


class PadTo:
    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample, g: torch.Generator | None = None) -> Sample:
        return pad_to(sample, self.size)


class RandomCropPad:
    """Pad to ``size`` if smaller, then crop a random ``size`` window."""

    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample, g: torch.Generator) -> Sample:
        sample = pad_to(sample, self.size)
        h, w = sample["image"].shape[-2:]
        y0 = int(torch.randint(h - self.size[0] + 1, (1,), generator=g))
        x0 = int(torch.randint(w - self.size[1] + 1, (1,), generator=g))
        for k in _spatial(sample):
            sample[k] = sample[k][..., y0:y0 + self.size[0], x0:x0 + self.size[1]].contiguous()
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
