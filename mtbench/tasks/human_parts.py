"""Human-part segmentation: the semseg machinery on part labels (background + parts)."""

from __future__ import annotations

import torch

from mtbench.registry import register_task
from mtbench.tasks.semseg import SegmentationTask

HUMAN_PARTS = register_task(
    SegmentationTask(
        name="human_parts",
        primary="mIoU",
        ignore_index=255,
        target_dtype=torch.int64,
        description="human-part segmentation (mIoU %, higher is better; images without people are ignored)",
    )
)
