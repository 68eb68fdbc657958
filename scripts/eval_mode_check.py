"""Is a trained run's evaluation limited by BatchNorm's running statistics? A diagnostic for one run folder.

Evaluates the run's reported checkpoint (as ``mtbench eval`` loads it) twice with the harness's metrics: as
recorded (eval mode, BN running statistics) and with every BN normalising by the statistics of the evaluation
batch instead (batches of ``--batch``; not a valid protocol, a probe). When the two differ a lot while the
training losses looked normal, the network's eval-mode output is ill-conditioned: look at the per-image depth
errors it prints (a few images far off in eval mode point to activations blowing up on out-of-range inputs).

Run: ``python scripts/eval_mode_check.py runs/<run id> [--split val] [--batch 20] [--worst 5] [--trust-checkpoint]``.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from mtbench.engine.evaluate import evaluate
from mtbench.engine.run import build_data, load_run
from mtbench.errors import MtbenchError
from mtbench.metrics.depth import valid_depth
from mtbench.registry import get_task


def with_batch_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """A copy whose BN layers normalise by the current batch's statistics in eval mode too."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.track_running_stats, m.running_mean, m.running_var = False, None, None
    return model


@torch.no_grad()
def per_image_depth(model: torch.nn.Module, loader: DataLoader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: depth RMSE over valid pixels, mean predicted and mean true depth (eval mode)."""
    model.eval()
    rmse, pred_level, true_level = [], [], []
    for batch in loader:
        pred = model(batch["image"])["depth"].float()
        target = batch["depth"].reshape(pred.shape[0], *batch["depth"].shape[-2:])  # B×H×W (stored B×1×H×W or B×H×W)
        if pred.shape[-2:] != target.shape[-2:]:
            pred = torch.nn.functional.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
        pred = pred[:, 0]
        for p, t in zip(pred, target):
            valid = valid_depth(t)
            rmse.append(((p - t)[valid] ** 2).mean().sqrt().item())
            pred_level.append(p[valid].mean().item())
            true_level.append(t[valid].mean().item())
    return np.array(rmse), np.array(pred_level), np.array(true_level)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return int(text)


def report(run_dir: Path, split: str, batch: int, worst: int, trust: bool = False) -> None:
    """Print both evaluations and, when depth is a main task, the per-image depth errors."""
    cfg, exp, model, _, which = load_run(run_dir, trust)
    loader = DataLoader(build_data(cfg, exp, split), batch_size=batch)
    cpu = torch.device("cpu")
    print(f"{run_dir.name} ({which}) on {cfg.data.dataset} {split} (batches of {batch}):")
    for label, m in (
        ("eval mode (running statistics)", model),
        ("batch statistics (probe)", with_batch_statistics(model)),
    ):
        scores = evaluate(m, loader, exp.tasks, exp.spec, cpu).metrics
        row = ", ".join(f"{t} {get_task(t).primary} {scores[t][get_task(t).primary]:.4g}" for t in exp.tasks)
        print(f"  {label:32s} {row}")
    if "depth" in exp.tasks:
        rmse, level, truth = per_image_depth(model, loader)
        q = np.percentile(rmse, [50, 90, 100])
        print(f"  per-image depth RMSE in eval mode: median {q[0]:.3f}, 90th percentile {q[1]:.3f}, max {q[2]:.3f}")
        for i in np.argsort(-rmse)[:worst]:
            print(f"    image {i}: RMSE {rmse[i]:.3f}, mean predicted depth {level[i]:.2f} (true {truth[i]:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--split", default="val")
    ap.add_argument(
        "--batch", type=_positive_int, default=20, help="evaluation batch size (the batch-statistics probe)"
    )
    ap.add_argument("--worst", type=_positive_int, default=5, help="how many worst depth images to list")
    ap.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow a full unpickle of a checkpoint the safe loader refuses (runs its code: trusted files only)",
    )
    args = ap.parse_args()
    try:
        report(args.run_dir, args.split, args.batch, args.worst, args.trust_checkpoint)
    except MtbenchError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None


if __name__ == "__main__":
    main()
