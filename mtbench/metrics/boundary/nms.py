"""Edge non-maximum suppression, the variant SEISM applies to soft edge maps before thresholding.

Convention: float H×W in [0, 1] in, float H×W out (suppressed pixels set to 0, values near the image
border attenuated); no thresholding here.

Steps (the structured-edge toolbox's published NMS settings that SEISM's PNG reader uses: orientation
smoothing radius 4, NMS radius r = 1, border radius s = 5, multiplier m = 1.01), written here from
their description:
1. orientation: smooth the map with a triangle filter of radius 4, take second derivatives by central
   differences, O = atan(Oyy·sign(−Oxy) / (Oxx + 1e-5)) mod π (the direction across the edge);
2. a pixel with value e is suppressed when m·e < the bilinearly interpolated value at distance
   d = 1..r on either side along O;
3. values within s pixels of the border are scaled by (distance to the border) / s.
"""

from __future__ import annotations

import numpy as np


def _tri_kernel(radius: int) -> np.ndarray:
    k = np.concatenate([np.arange(1, radius + 2), np.arange(radius, 0, -1)]).astype(np.float64)
    return k / k.sum()


def conv_tri(img: np.ndarray, radius: int) -> np.ndarray:
    """Separable triangle filter of the given radius, symmetric ('reflect') border."""
    from scipy.ndimage import convolve1d

    if radius <= 0:
        return img.astype(np.float64)
    k = _tri_kernel(radius)
    out = convolve1d(img.astype(np.float64), k, axis=0, mode="reflect")
    return convolve1d(out, k, axis=1, mode="reflect")


def edge_orientation(edges: np.ndarray, smooth_radius: int = 4) -> np.ndarray:
    """Direction across the edge at each pixel (radians in [0, π)) from second derivatives."""
    e = conv_tri(edges, smooth_radius)
    oy, ox = np.gradient(e)
    _, oxx = np.gradient(ox)
    oyy, oxy = np.gradient(oy)
    return np.mod(np.arctan(oyy * np.sign(-oxy) / (oxx + 1e-5)), np.pi)


def _bilinear(img: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    h, w = img.shape
    y = np.clip(y, 0, h - 1.001)
    x = np.clip(x, 0, w - 1.001)
    y0 = np.floor(y).astype(np.int64)
    x0 = np.floor(x).astype(np.int64)
    fy, fx = y - y0, x - x0
    return (1 - fy) * ((1 - fx) * img[y0, x0] + fx * img[y0, x0 + 1]) + fy * (
        (1 - fx) * img[y0 + 1, x0] + fx * img[y0 + 1, x0 + 1]
    )


def edge_nms(
    edges: np.ndarray, radius: int = 1, border: int = 5, multiplier: float = 1.01, smooth_radius: int = 4
) -> np.ndarray:
    """Thin soft edges to their ridge across the edge direction (see module docstring)."""
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"edge_nms expects a 2-D map, got shape {e.shape}")
    h, w = e.shape
    out = e.copy()
    if h < 2 or w < 2:
        return out
    theta = edge_orientation(e, smooth_radius)
    ys, xs = np.nonzero(e > 0)
    vals = e[ys, xs] * multiplier
    co, si = np.cos(theta[ys, xs]), np.sin(theta[ys, xs])
    keep = np.ones(len(ys), dtype=bool)
    for d in range(-radius, radius + 1):
        if d == 0:
            continue
        keep &= vals >= _bilinear(e, ys + d * si, xs + d * co)
    out[ys[~keep], xs[~keep]] = 0.0
    if border > 0:
        ramp_y = np.minimum(np.arange(h), np.arange(h)[::-1]).astype(np.float64)
        ramp_x = np.minimum(np.arange(w), np.arange(w)[::-1]).astype(np.float64)
        out *= np.minimum(ramp_y / border, 1.0)[:, None]
        out *= np.minimum(ramp_x / border, 1.0)[None, :]
    return out
