"""Building blocks shared by the models (mtinet/ and baselines/ import these, never each other)."""

from mtbench.nn.blocks import BasicBlock, Bottleneck, SqueezeExcitation, conv_bn
from mtbench.nn.common import check_image, check_input_hw, resize
from mtbench.nn.distill import MultiTaskDistillation, SpatialAttention
from mtbench.nn.heads import MultiScaleFuse, MultiScaleHead, upsample_concat

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "SqueezeExcitation",
    "conv_bn",
    "check_image",
    "check_input_hw",
    "resize",
    "MultiTaskDistillation",
    "SpatialAttention",
    "MultiScaleFuse",
    "MultiScaleHead",
    "upsample_concat",
]
