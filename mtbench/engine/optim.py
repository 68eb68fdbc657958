"""Optimisers and the poly learning-rate schedule (with optional linear warm-up)."""
from __future__ import annotations

import torch

from mtbench.config import TrainCfg


def build_optimizer(model: torch.nn.Module, cfg: TrainCfg) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over all trainable parameters with the config's lr and weight decay."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                           nesterov=cfg.nesterov)


def lr_factor(it: int, total: int, cfg: TrainCfg) -> float:
    """Convention: factor of the base lr at iteration ``it`` (0-based) of ``total``: linear warm-up over
    ``warmup_iters``, then poly: (1 - it/total) ** power (constant if schedule == 'constant')."""
    if cfg.warmup_iters and it < cfg.warmup_iters:
        return (it + 1) / cfg.warmup_iters
    if cfg.schedule == "constant":
        return 1.0
    return max(0.0, 1.0 - it / max(1, total)) ** cfg.poly_power


def build_scheduler(opt: torch.optim.Optimizer, total_iters: int, cfg: TrainCfg
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration LambdaLR applying ``lr_factor`` (stepped after every optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda it: lr_factor(it, total_iters, cfg))
