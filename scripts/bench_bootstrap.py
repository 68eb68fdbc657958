"""Cost of the bootstrap in evaluation: ``evaluate()`` with and without per-image statistics and B replicates.

Usage: python scripts/bench_bootstrap.py [--model mtl] [--tasks semseg,depth] [--n 100] [--size 96x128]
       [--boot 1000] [--rounds 3]

The synthetic val scenes are rendered once beforehand (rendering is not what is measured), the model is the
run's (initialised, not trained: the metric work does not depend on the weights). Each round evaluates once
without and once with the bootstrap; reported: median wall and process-CPU seconds of each, and the overhead.
One CPU thread (the machine may be shared: CPU time is the figure to compare).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: set before numpy / torch are imported

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mtl")
    ap.add_argument("--tasks", default="semseg,depth", help="main tasks (comma-separated)")
    ap.add_argument("--n", type=int, default=100, help="val images")
    ap.add_argument("--size", default="96x128", help="HxW (the default benchmark's)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import torch
    from torch.utils.data import DataLoader

    from mtbench.config import build_config
    from mtbench.engine.evaluate import evaluate
    from mtbench.engine.run import build_data, build_model, resolve_experiment

    torch.set_num_threads(1)
    h, w = (int(v) for v in args.size.lower().split("x"))
    cfg = build_config(
        None,
        [
            f"model.name={args.model}",
            f"data.tasks=[{args.tasks}]",
            "data.aux_tasks=[]",
            f"data.train_size=[{h},{w}]",
            f"data.n_val={args.n}",
            "run.quiet=true",
        ],
    )
    exp = resolve_experiment(cfg)
    val = build_data(cfg, exp, "val")
    images = [val[i] for i in range(len(val))]  # rendered once
    model = build_model(cfg, exp).eval()
    loader = DataLoader(images, batch_size=args.batch_size)  # type: ignore[arg-type]
    cpu = torch.device("cpu")

    def timed(boot: int) -> tuple[float, float]:
        wall, proc = time.perf_counter(), time.process_time()
        ev = evaluate(model, loader, exp.tasks, exp.spec, cpu, bootstrap=boot)
        if boot:
            assert set(ev.bootstrap) == set(exp.tasks), ev.no_bootstrap
        return time.perf_counter() - wall, time.process_time() - proc

    timed(0)  # warm-up
    plain, boot = [], []
    for _ in range(args.rounds):
        plain.append(timed(0))
        boot.append(timed(args.boot))
    pw, pc = (statistics.median(x) for x in zip(*plain))
    bw, bc = (statistics.median(x) for x in zip(*boot))
    print(
        f"{args.model} {','.join(exp.tasks)}, {args.n} val images at {h}x{w}, batch {args.batch_size}, "
        f"median of {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  without bootstrap: wall {pw:.2f} s, CPU {pc:.2f} s")
    print(f"  with {args.boot} replicates: wall {bw:.2f} s, CPU {bc:.2f} s")
    print(f"  overhead: wall {bw - pw:+.2f} s ({100 * (bw / pw - 1):+.1f} %), ", end="")
    print(f"CPU {bc - pc:+.2f} s ({100 * (bc / pc - 1):+.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
