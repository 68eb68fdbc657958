"""What a constant predictor scores on a run configuration (default: the default benchmark, seed 0), with
the harness's own metrics: the floor a trained model must be far from (see ``mtbench.constant``).

Prints the scores and writes them as a result record with ``model: constant`` to the results folder
(``results/`` by default: ``results/<dataset>/constant/constant-<tasks>-s<seed>-<config hash>.json``, replaced
when written again for the same config). The leaderboard page quotes that record beside the dataset's measured
rows whose data it was computed on; it never recomputes the floor. The default benchmark's floor (3072 + 100
scenes) takes about 2 minutes of CPU time.

Run: ``python scripts/constant_baseline.py [--config NAME] [--set key=value ...] [--results DIR] [--no-record]``,
e.g. ``--set run.seed=1`` or ``--set data.tasks=[semseg,depth,normals]``.
"""

from __future__ import annotations

import argparse
import sys

from mtbench.config import build_config
from mtbench.constant import floor_record
from mtbench.errors import MtbenchError
from mtbench.registry import get_task
from mtbench.reporting.results import save_record


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=None, help="Recipe name or YAML path (default: the default benchmark).")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="Override, e.g. run.seed=1.")
    ap.add_argument("--results", default="results", help="Results folder (default: results/, where the page reads it).")
    ap.add_argument("--no-record", action="store_true", help="Only print the scores.")
    args = ap.parse_args(argv)
    try:
        _floor(args)
    except MtbenchError as e:  # one line naming the option or file, as the CLI does
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None


def _floor(args: argparse.Namespace) -> None:
    cfg = build_config(args.config, args.sets)
    record = floor_record(cfg)
    print(f"constant predictor on {record.dataset} {record.split} (seed {record.seed}):")
    for task, metrics in record.metrics.items():
        primary = get_task(task).primary_spec
        others = ", ".join(
            f"{k} {v:.4g}"
            for k, v in metrics.items()
            if k != primary.name and not k.startswith("IoU_") and v is not None
        )
        print(f"  {task}: {primary.name} {metrics[primary.name]:.4g} {primary.unit}  ({others})")
    if not args.no_record:
        print(f"wrote {save_record(record, args.results)}")


if __name__ == "__main__":
    main()
