"""Loss helpers shared by task modules."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def balanced_bce(
    output: torch.Tensor, target: torch.Tensor, pos_weight: float | None, ignore_index: int | None = 255
) -> torch.Tensor:
    """Class-balanced binary cross-entropy on logits (HED style, as in the MTI-Net release).

    Convention: loss = w * Σ_pos bce + (1 - w) * Σ_neg bce, divided by the number of pixels of the
    batch (``size_average``). ``pos_weight`` fixes w (0.95 for edges); None uses the batch's fraction of
    negatives among valid pixels (saliency). Pixels equal to ``ignore_index`` contribute nothing.
    """
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    labels = (target >= 0.5) & valid
    bce = F.binary_cross_entropy_with_logits(output, labels.to(output.dtype), reduction="none")
    pos = (bce * labels).sum()
    neg = (bce * (valid & ~labels)).sum()
    if pos_weight is None:
        n_valid = valid.sum().clamp(min=1)
        w = (valid & ~labels).sum() / n_valid
    else:
        w = torch.tensor(pos_weight, device=output.device, dtype=output.dtype)
    return (w * pos + (1 - w) * neg) / target.numel()
