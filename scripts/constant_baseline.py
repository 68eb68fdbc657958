"""What a constant predictor scores on a dataset split, with the harness's own metrics: the floor a
trained model must be far from. Semseg: the training split's most frequent class everywhere; depth: the
training split's mean valid depth everywhere.

Run: ``python scripts/constant_baseline.py [--n-train 256] [--n-val 100] [--size 128x160]``.
"""
from __future__ import annotations

import argparse

import torch

from mtbench.data import build_dataset
from mtbench.data.spec import get_dataset_spec
from mtbench.registry import get_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-train", type=int, default=256)
    ap.add_argument("--n-val", type=int, default=100)
    ap.add_argument("--size", default="128x160")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    spec = get_dataset_spec("synthetic")
    tasks = ["semseg", "depth"]
    train = build_dataset("synthetic", "train", tasks=tasks, train=False, size=size, n=args.n_train, seed=args.seed)
    counts, dsum, dn = torch.zeros(spec.num_classes["semseg"], dtype=torch.int64), 0.0, 0
    for s in train:
        lab = s["semseg"][s["semseg"] != 255]
        counts += torch.bincount(lab.flatten(), minlength=len(counts))
        d = s["depth"][s["depth"] > 0]
        dsum, dn = dsum + float(d.sum()), dn + d.numel()
    majority, mean_depth = int(counts.argmax()), dsum / dn
    val = build_dataset("synthetic", "val", tasks=tasks, train=False, size=size, n=args.n_val, seed=args.seed)
    seg, dep = get_task("semseg").make_metric(spec.num_classes["semseg"]), get_task("depth").make_metric()
    for s in val:
        seg.update(torch.full_like(s["semseg"], majority)[None], s["semseg"][None])
        dep.update(torch.full_like(s["depth"], mean_depth)[None], s["depth"][None])
    print(f"constant predictor on synthetic val ({args.n_val} images at {size[0]}x{size[1]}, seed {args.seed}):")
    print(f"  semseg: class {majority} everywhere -> mIoU {seg.compute()['mIoU']:.2f} %, "
          f"pixel acc {seg.compute()['pixel_acc']:.2f} %")
    print(f"  depth: {mean_depth:.3f} m everywhere -> RMSE {dep.compute()['rmse']:.3f} m, "
          f"abs rel {dep.compute()['abs_rel']:.3f}")


if __name__ == "__main__":
    main()
