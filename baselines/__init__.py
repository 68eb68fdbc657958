"""Baseline models (single-task, hard sharing, PAD-Net, cross-stitch, NDDR-CNN, MTAN).

Importing this package registers them. cross_stitch, nddr_cnn and mtan need a ResNet backbone
(their entry points default to resnet18).
"""

from baselines import cross_stitch, mtan, mtl_baseline, nddr_cnn, pad_net, single_task  # noqa: F401
