"""Generation speed of the synthetic dataset on one CPU core (target: >= 100 images/s at 128x160).

Usage: python scripts/bench_synthetic.py [--n 40] [--size 128x160] [--min-rate 0]

Reports images/s by wall clock and by process CPU time (the CPU figure is what one dedicated core would
give when the machine is shared; the load average is printed so contention is visible), for the raw
renderer (``generate``: scene sampling + ray casting + shading + all targets) and for full training
samples (``build_dataset(..., train=True)[i]``: + flip/scale/crop/jitter and tensor conversion).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: set before numpy / torch are imported

import argparse  # noqa: E402
import time  # noqa: E402


def _measure(fn, n: int, rounds: int = 5) -> tuple[float, float, float]:
    """(mean wall rate, mean CPU rate, best-round CPU rate) in images/s over ``rounds`` rounds of n images."""
    fn(0)  # warm-up (caches, lazy imports)
    walls, cpus = [], []
    for r in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(r * n, (r + 1) * n):
            fn(i)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return rounds * n / sum(walls), rounds * n / sum(cpus), n / min(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="images per round (5 rounds, distinct images)")
    ap.add_argument("--size", default="128x160", help="HxW")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-rate", type=float, default=0.0, help="exit 1 if the CPU-time rate is below this")
    args = ap.parse_args()

    import torch

    from mtbench.data import build_dataset, parse_size
    from mtbench.data.synthetic import generate

    torch.set_num_threads(1)
    size = parse_size(args.size)
    tasks = ["semseg", "depth", "normals", "edge", "saliency", "human_parts"]
    ds = build_dataset("synthetic", "train", tasks=tasks, train=True, size=size, n=5 * args.n, seed=args.seed)
    raw = _measure(lambda i: generate(args.seed, "train", i, size), args.n)
    full = _measure(lambda i: ds[i], args.n)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"synthetic {size[0]}x{size[1]}, 5 x {args.n} images, 1 thread, load average {load:.2f} "
        f"on {os.cpu_count()} CPUs (images/s: wall clock, CPU time, CPU time of the best round)"
    )
    print(f"  render only (generate):        {raw[0]:7.1f} wall  {raw[1]:7.1f} CPU  {raw[2]:7.1f} best")
    print(f"  training sample (all 6 tasks): {full[0]:7.1f} wall  {full[1]:7.1f} CPU  {full[2]:7.1f} best")
    return 1 if raw[1] < args.min_rate else 0


if __name__ == "__main__":
    raise SystemExit(main())
