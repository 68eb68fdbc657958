"""Baseline models (single-task, hard sharing, PAD-Net, ...). Importing this package registers them."""
from baselines import mtl_baseline, pad_net, single_task  # noqa: F401  (registration side effect)
