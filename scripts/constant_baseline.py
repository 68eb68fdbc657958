"""What a constant predictor scores on a run configuration (default: the default benchmark, seed 0), with
the harness's own metrics: the floor a trained model must be far from (see ``mtbench.constant``).

Run: ``python scripts/constant_baseline.py [--config NAME] [--set key=value ...]``, e.g.
``--set run.seed=1`` or ``--set data.tasks=[semseg,depth,normals]``.
"""
from __future__ import annotations

import argparse

from mtbench.config import build_config
from mtbench.constant import constant_scores
from mtbench.registry import get_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    args = ap.parse_args()
    cfg = build_config(args.config, args.sets)
    print(f"constant predictor on {cfg.data.dataset} {cfg.eval.split} (seed {cfg.run.seed}):")
    for task, metrics in constant_scores(cfg).items():
        primary = get_task(task).primary_spec
        others = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != primary.name and not k.startswith("IoU_"))
        print(f"  {task}: {primary.name} {metrics[primary.name]:.4g} {primary.unit}  ({others})")


if __name__ == "__main__":
    main()
