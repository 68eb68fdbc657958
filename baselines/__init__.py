"""Baseline models (single-task, hard sharing, PAD-Net, ...). Importing this package registers them."""
