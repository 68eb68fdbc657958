"""Linear centred kernel alignment (CKA; Kornblith, Norouzi, Lee, Hinton, ICML 2019).

For features X (n×p) and Y (n×q) of the same n samples, centred column-wise:
``CKA(X, Y) = ||YᵀX||_F² / (||XᵀX||_F · ||YᵀY||_F)``, in [0, 1]; 1 for identical features, invariant to
orthogonal transforms and isotropic scaling of either side (not to arbitrary invertible linear maps), 0 when
the centred cross-covariance YᵀX is zero. Computed in float64 in the feature-space form (p×q matrices), which
is cheap when n (samples) is larger than p and q (channels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def center(x: torch.Tensor) -> torch.Tensor:
    """``x`` (n×p) in float64 with each column's mean subtracted."""
    if x.dim() != 2:
        raise ValueError(f"features must be n×p (samples × channels), got shape {tuple(x.shape)}")
    x = x.to(torch.float64)
    return x - x.mean(dim=0, keepdim=True)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of ``x`` (n×p) and ``y`` (n×q), rows the same samples; NaN when either side is constant
    (its centred features are all zero, CKA is undefined)."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same samples on both sides: {x.shape[0]} vs {y.shape[0]} rows")
    xc, yc = center(x), center(y)
    num = torch.linalg.matrix_norm(yc.T @ xc) ** 2
    den = torch.linalg.matrix_norm(xc.T @ xc) * torch.linalg.matrix_norm(yc.T @ yc)
    if not float(den) > 0:
        return math.nan
    return min(1.0, max(0.0, float(num / den)))  # clip float64 rounding (e.g. 1 + 2e-16)


def cka_matrix(feats: Sequence[torch.Tensor]) -> list[list[float]]:
    """Symmetric matrix of linear CKA between every pair of feature sets (each n×p_i, the same n samples)."""
    k = len(feats)
    out = [[math.nan] * k for _ in range(k)]
    for i in range(k):
        for j in range(i, k):
            out[i][j] = out[j][i] = linear_cka(feats[i], feats[j])
    return out
