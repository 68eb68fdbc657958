"""Benchmark every model: forward and forward+backward time per image (CPU, and CUDA when present).

Usage:
  python scripts/bench_models.py                 # time table at 256x320 on CPU (+ CUDA if available)
  python scripts/bench_models.py --reference     # params and GMACs at 480x640 vs the MTI-Net release
  python scripts/bench_models.py --against-release RELEASE_DIR --device cpu --threads 1
      # training steps of mtbench's and the release's MTL, PAD-Net and MTI-Net side by side (your checkout of
      # the release, imported at run time; nothing of it is part of mtbench): see mtbench.release_compare
  python scripts/bench_models.py --against-release RELEASE_DIR --device cuda --amp bf16 --channels-last [--compile]
      # mtbench in bf16 + channels_last (+ torch.compile) against the release's fp32 step

Convention: milliseconds per image (batch time / batch size), median of --iters runs after --warmup;
forward in eval() under no_grad, forward+backward in train() on the sum of all outputs (aux included);
GMACs = fvcore count (one multiply-add = one MAC), batch 1; peak memory = CUDA max allocated, MiB.
--against-release: milliseconds per training step (forward + full loss + backward + Adam step), median over
--iters interleaved rounds; ratio = release ms / mtbench ms (> 1: mtbench faster). Defaults there: 256x320,
batch 2, 2 warm-up and 10 timed rounds on CPU (480x640 would take minutes per step on one thread; sides must
be multiples of 32, so not 240x320); 480x640, batch 8 (the release's trBatch), 5 + 20 rounds on CUDA.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time

import torch

from mtbench.data.spec import get_dataset_spec
from mtbench.profiling import count_gmacs, count_params, parse_input, peak_memory_mb, reset_peak_memory, train_step
from mtbench.registry import create_model

# (label, model, tasks, aux tasks, model kwargs, reference params, reference GMACs at 480x640)
ROWS = [
    ("single_task semseg", "single_task", ["semseg"], [], {}, 3_945_270, 11.56),
    ("single_task depth", "single_task", ["depth"], [], {}, 3_934_701, 11.31),
    ("mtl", "mtl", ["semseg", "depth"], [], {}, 4_019_251, 13.00),
    ("padnet", "padnet", ["semseg", "depth"], [], {}, 7_019_056, 70.38),
    ("mtinet", "mtinet", ["semseg", "depth"], [], {}, 8_578_179, 17.36),
    ("mtinet + edge,normals", "mtinet", ["semseg", "depth"], ["edge", "normals"], {}, 14_838_121, 23.12),
    ("mtinet w/o FPM", "mtinet", ["semseg", "depth"], [], {"fpm": False}, None, None),
]
# ResNet-only baselines, with the hard-sharing baseline on the same backbone for comparison.
RESNET_ROWS = [
    ("mtl [resnet18]", "mtl", ["semseg", "depth"], [], {}, None, None),
    ("cross_stitch [resnet18]", "cross_stitch", ["semseg", "depth"], [], {}, None, None),
    ("nddr_cnn [resnet18]", "nddr_cnn", ["semseg", "depth"], [], {}, None, None),
    ("mtan [resnet18]", "mtan", ["semseg", "depth"], [], {}, None, None),
]


def build(row, backbone: str = "hrnet18"):
    _, name, tasks, aux, kw, _, _ = row
    spec = get_dataset_spec("nyud")
    return create_model(
        name, tasks=tasks, aux_tasks=aux, out_channels=spec.out_channels(tasks + aux), backbone=backbone, **kw
    )


def _time(fn, device: torch.device, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def bench(device: torch.device, hw: tuple[int, int], batch: int, warmup: int, iters: int, backbone: str) -> list:
    rows = []
    for row in ROWS + RESNET_ROWS:
        model = build(row, "resnet18" if row in RESNET_ROWS else backbone).to(device)
        x = torch.randn(batch, 3, *hw, device=device)

        def fwd(model=model, x=x):
            model.eval()
            with torch.no_grad():
                model(x)

        fwd_ms = _time(fwd, device, warmup, iters) / batch
        reset_peak_memory(device)
        fb_ms = _time(functools.partial(train_step, model, x), device, warmup, iters) / batch
        mem = peak_memory_mb(device, "train")[0] if device.type == "cuda" else None
        label = row[0] if row in RESNET_ROWS else f"{row[0]} [{backbone}]"
        rows.append(
            [label, f"{count_params(model) / 1e6:.2f}", f"{fwd_ms:.1f}", f"{fb_ms:.1f}"]
            + ([f"{mem:.0f}"] if mem is not None else [])
        )
        del model, fwd
    return rows


def reference(backbone: str) -> int:
    from tabulate import tabulate

    bad, out = 0, []
    for row in ROWS:
        if row[5] is None:
            continue
        model = build(row, backbone)
        params = count_params(model)
        gmacs, _ = count_gmacs(model, (480, 640))
        ok = params == row[5] and abs(gmacs - row[6]) / row[6] <= 0.01
        bad += not ok
        out.append(
            [
                row[0],
                f"{params:,}",
                f"{row[5]:,}",
                f"{gmacs:.2f}",
                f"{row[6]:.2f}",
                f"{100 * (gmacs - row[6]) / row[6]:+.2f}",
                "ok" if ok else "MISMATCH",
            ]
        )
        print(out[-1], flush=True)
    print(
        tabulate(
            out,
            ["model (NYUD, hrnet18, 480x640)", "params", "release", "GMACs", "release", "Δ GMACs %", ""],
            tablefmt="github",
        )
    )
    return 1 if bad else 0


def against_release(a: argparse.Namespace) -> int:
    """Side-by-side training steps against the release checkout; 1 if any pair's parameter counts differ."""
    from tabulate import tabulate

    from mtbench.errors import MtbenchError
    from mtbench.release_compare import (
        RELEASE_CUDNN,
        ParamMismatch,
        check_release_dir,
        compare_pair,
        mtbench_cudnn,
        select_pairs,
    )

    try:
        root = check_release_dir(a.against_release)
        pairs = select_pairs(a.models)
    except MtbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: CUDA is not available", file=sys.stderr)
        return 2
    dev = torch.device("cuda" if a.device == "cuda" or (a.device == "all" and torch.cuda.is_available()) else "cpu")
    on_cuda = dev.type == "cuda"
    if not on_cuda and (a.amp != "none" or a.channels_last):
        print("note: --amp and --channels-last apply on CUDA only; mtbench runs fp32 on CPU", file=sys.stderr)
    amp, cl = (a.amp, a.channels_last) if on_cuda else ("none", False)
    hw = parse_input(a.input or ("480x640" if on_cuda else "256x320"))
    batch = a.batch or (8 if on_cuda else 2)
    warmup = a.warmup if a.warmup is not None else (5 if on_cuda else 2)
    iters = a.iters or (20 if on_cuda else 10)
    where = torch.cuda.get_device_name(dev) if on_cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"{where}, NYUD hrnet18, input {hw[0]}x{hw[1]}, batch {batch}, {warmup} warm-up + {iters} timed rounds "
        f"(interleaved), torch {torch.__version__}; release: fp32 from {root}",
        flush=True,
    )
    if on_cuda:
        print(
            f"cuDNN flags per side: release {RELEASE_CUDNN} (its main.py), mtbench "
            f"{mtbench_cudnn(not a.no_deterministic)} (run.deterministic={not a.no_deterministic})",
            flush=True,
        )
    rows, bad = [], 0
    for pair in pairs:
        try:
            res = compare_pair(
                root,
                pair,
                hw,
                batch,
                warmup,
                iters,
                dev,
                amp=amp,
                channels_last=cl,
                compile=a.compile,
                deterministic=not a.no_deterministic,
            )
        except ParamMismatch as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            bad += 1
            continue
        except MtbenchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        med, ratios = res.median_ms, res.ratios()
        for name in [n for n in med if n != "release"]:
            rows.append(
                [
                    pair.label,
                    f"{res.params['release']:,}",
                    f"{res.params[name]:,}",
                    f"{med['release']:.0f}",
                    name,
                    f"{med[name]:.0f}",
                    f"{ratios[name]:.3f}",
                    "{:.2f} / {:.2f} / {:.2f}".format(*res.round_ratios(name)),
                    res.loss["release"],
                ]
            )
            print(rows[-1], flush=True)
    head = ["model", "params release", "params mtbench", "release ms", "mtbench side", "ms", "ratio"]
    head += ["per-round ratio q1 / q2 / q3", "release loss"]
    print(tabulate(rows, head, tablefmt="github"))
    print(
        "ms: median per training step; ratio = release ms / mtbench ms (> 1: mtbench faster); per-round ratio: "
        "quartiles of the ratios of the two steps of each round (back to back, about the same load)"
    )
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--input", default=None, help="HxW, multiples of 32 (240x320 is not: timm HRNet fails there); default 256x320"
    )
    ap.add_argument("--batch", type=int, default=None, help="default 2 (--against-release on CUDA: 8)")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--backbone", default="hrnet18")
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--reference", action="store_true", help="check params/GMACs at 480x640 instead")
    ap.add_argument(
        "--against-release",
        metavar="RELEASE_DIR",
        help="time training steps against your checkout of the MTI-Net release (imported from there at run time)",
    )
    ap.add_argument("--models", help="with --against-release: comma-separated rows (mtl, padnet, mtinet, ...)")
    ap.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none", help="mtbench's side, CUDA only")
    ap.add_argument("--channels-last", action="store_true", help="mtbench's side, CUDA only")
    ap.add_argument("--compile", action="store_true", help="also time mtbench's step under torch.compile")
    ap.add_argument(
        "--no-deterministic",
        action="store_true",
        help="mtbench's side with run.deterministic=false's cuDNN flags (default: run.deterministic=true's)",
    )
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.reference:
        return reference(a.backbone)
    if a.against_release:
        return against_release(a)
    hw = parse_input(a.input or "256x320")
    a.batch = a.batch or 2
    a.warmup = 1 if a.warmup is None else a.warmup
    a.iters = a.iters or 3
    devices = [] if a.device == "cuda" else [torch.device("cpu")]
    if a.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    for dev in devices:
        torch.manual_seed(0)
        rows = bench(
            dev, hw, a.batch, a.warmup if dev.type == "cpu" else 5, a.iters if dev.type == "cpu" else 20, a.backbone
        )
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        print(f"\n{name}, {a.backbone}, NYUD heads, input {hw[0]}x{hw[1]}, batch {a.batch}, torch {torch.__version__}")
        head = ["model", "params (M)", "fwd ms/img", "fwd+bwd ms/img"] + (
            ["peak MiB (train)"] if dev.type == "cuda" else []
        )
        print(tabulate(rows, head, tablefmt="github"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
