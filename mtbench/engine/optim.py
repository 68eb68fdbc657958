"""Optimisers and the poly learning-rate schedule (with optional linear warm-up)."""

from __future__ import annotations

import torch

from mtbench.config import TrainCfg


def param_groups(model: torch.nn.Module, lr: float) -> list[dict]:
    """Trainable parameters in groups by learning rate. A model may declare ``lr_multipliers``
    ({parameter-name prefix: factor}, e.g. cross-stitch units at 100×); the rest get ``lr``."""
    mults: dict[str, float] = dict(getattr(model, "lr_multipliers", {}) or {})
    groups: dict[float, list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            factor = next((f for prefix, f in mults.items() if name.startswith(prefix)), 1.0)
            groups.setdefault(factor, []).append(p)
    return [{"params": ps, "lr": lr * f} for f, ps in sorted(groups.items())]


def build_optimizer(model: torch.nn.Module, cfg: TrainCfg) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over all trainable parameters with the config's lr (times the model's
    ``lr_multipliers`` per group) and weight decay."""
    params = param_groups(model, cfg.lr)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
    )


def lr_factor(it: int, total: int, cfg: TrainCfg, iters_per_epoch: int = 1) -> float:
    """Convention: factor of the base lr at iteration ``it`` (0-based) of ``total``: linear warm-up over
    ``warmup_iters``, then poly (constant if schedule == 'constant'):
    ``poly_step='iter'``: (1 - it/total) ** power, a new value every iteration;
    ``poly_step='epoch'``: (1 - e/E) ** power with e = it // iters_per_epoch of E epochs, held for the whole
    epoch, as the MTI-Net release (adjust_learning_rate once per epoch: the last epoch trains at
    (1/E) ** 0.9, about 0.016 lr0 for 100 epochs)."""
    if cfg.warmup_iters and it < cfg.warmup_iters:
        return (it + 1) / cfg.warmup_iters
    if cfg.schedule == "constant":
        return 1.0
    if cfg.poly_step == "epoch":
        ipe = max(1, iters_per_epoch)
        epochs = max(1, -(-total // ipe))
        return max(0.0, 1.0 - (it // ipe) / epochs) ** cfg.poly_power
    return max(0.0, 1.0 - it / max(1, total)) ** cfg.poly_power


def build_scheduler(
    opt: torch.optim.Optimizer, total_iters: int, cfg: TrainCfg, iters_per_epoch: int = 1
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration LambdaLR applying ``lr_factor`` (stepped after every optimiser step; with
    ``poly_step='epoch'`` the factor changes only at epoch boundaries)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda it: lr_factor(it, total_iters, cfg, iters_per_epoch))
