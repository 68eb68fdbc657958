"""Input checks and small helpers shared by every model's forward (task lists are checked by
mtbench.registry.create_model against the model's descriptor)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mtbench.errors import UsageError

OUTPUT_STRIDE = 32


def check_input_hw(h: int, w: int, stride: int = OUTPUT_STRIDE) -> None:
    """Raise UsageError unless both sides are positive multiples of ``stride`` (the backbone's)."""
    if h <= 0 or w <= 0 or h % stride or w % stride:
        raise UsageError(
            f"Input size {h}x{w} is not divisible by {stride} (the backbone's output stride); "
            f"pass --input HxW with both sides multiples of {stride}, e.g. 480x640."
        )


def check_image(x: torch.Tensor) -> None:
    """Check a model input: B×3×H×W with H, W multiples of 32."""
    if x.dim() != 4:
        raise UsageError(f"Model input must be B×C×H×W, got shape {tuple(x.shape)}.")
    check_input_hw(int(x.shape[-2]), int(x.shape[-1]))


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False) to ``size`` (H, W); a no-op when already that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
