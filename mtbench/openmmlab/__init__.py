"""The optional OpenMMLab extra (mmcv, mmengine, mmsegmentation): mmseg backbones and decode heads.

``backbone``: ``--backbone mmseg:SPEC`` behind mtbench's backbone contract; ``heads``: the per-task heads of the
single-task and hard-sharing baselines (``model.kwargs.head=mmseg:SPEC``). Nothing here imports mmcv, mmengine
or mmseg at module level: they are imported when an mmseg backbone or head is built, and a missing extra is a
one-line UsageError saying how to install it.
"""
