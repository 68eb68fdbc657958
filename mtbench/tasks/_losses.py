"""Loss helpers shared by task modules."""

from __future__ import annotations

from collections.abc import Sequence

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
    return balanced_bce_many([output], target, pos_weight, ignore_index)[0]


def balanced_bce_many(
    outputs: Sequence[torch.Tensor], target: torch.Tensor, pos_weight: float | None, ignore_index: int | None = 255
) -> list[torch.Tensor]:
    """``balanced_bce`` of each output against one target, the target's masks and weight computed once."""
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    labels = (target >= 0.5) & valid
    negatives = valid & ~labels
    w_batch = None
    if pos_weight is None:
        n_valid = valid.sum().clamp(min=1)
        w_batch = negatives.sum() / n_valid
    as_dtype: dict[torch.dtype, torch.Tensor] = {}
    out = []
    for output in outputs:
        if output.dtype not in as_dtype:
            as_dtype[output.dtype] = labels.to(output.dtype)
        bce = F.binary_cross_entropy_with_logits(output, as_dtype[output.dtype], reduction="none")
        pos = (bce * labels).sum()
        neg = (bce * negatives).sum()
        w = w_batch if w_batch is not None else torch.tensor(pos_weight, device=output.device, dtype=output.dtype)
        out.append((w * pos + (1 - w) * neg) / target.numel())
    return out
