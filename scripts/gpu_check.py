"""GPU check: every model's speed, memory and GMACs at the NYUD setting, a DDP run and a bf16 run, in one JSON report.

Usage:
  python scripts/gpu_check.py                                  # on a GPU machine: results/gpu/<gpu-name>.json
  python scripts/gpu_check.py --models mtl,mtinet --iters 5    # fewer models, fewer iterations
  python scripts/gpu_check.py --cpu-smoke --out /tmp/smoke.json  # the same code paths on CPU at a tiny size

Parts, each caught (a failure is written into the report as an error string and the check goes on):
  torchrun  `torchrun --standalone --nproc_per_node 1 -m mtbench run` of the CI preset's first model at the tiny
            CI config, distributed with one process (MTBENCH_DISTRIBUTED=1: NCCL on CUDA, gloo on CPU, as the
            engine chooses); rc, wall seconds, the record's metrics and the NCCL version NCCL reports.
  e2e       `mtbench run --device cuda --set train.amp=bf16` of the default model on tiny synthetic data (4
            iterations, profiled); rc, wall seconds, the record's timings and cost.
  models    every registered model (--models) at the nyud_hrnet18 recipe (semseg + depth, NYUD heads), built
            from scratch by the engine's own functions (model.pretrained=null: no weights, nothing downloaded),
            on random inputs and targets, in each mode: fp32, bf16 autocast, bf16 + channels_last, fp32 +
            channels_last. Per mode: forward time (eval, no grad) and train-step time (forward, the run's
            multi-task loss, backward, the recipe's optimiser step), ms per batch, median of --iters after
            --warmup (CUDA events, profiling.time_ms); the peak memory of one train step
            (torch.cuda.max_memory_allocated after reset_peak_memory_stats, MiB: weights, gradients, optimiser
            state and activations). Per model: params and fvcore GMACs (profiling.count_gmacs: batch 1).
cuDNN is set as `mtbench run` sets it (run.deterministic: no autotuning) unless --cudnn-benchmark.

Time: the runs go first (each at most --run-timeout-s), then the models until --budget-s seconds from the start
are spent; the (model, mode) pairs left are skipped with a note, so the check ends about one pair after the budget.
Needs no data and no weights. Without CUDA it exits with code 2 and one line, unless --cpu-smoke (64x96, batch 2,
2 iterations, fp32 and bf16 autocast on CPU, memory fields null, torchrun with gloo, the bf16 run on CPU, where
amp is a no-op). Exit code 1 when a part failed (the report says which), else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import torch

NO_CUDA = "gpu_check: no CUDA device (torch.cuda.is_available() is False); run it on a GPU machine"
RECIPE = "nyud_hrnet18_480x640_100ep"
SCHEMA = "mtbench-gpu-check/1"
PARTS = ("torchrun", "e2e", "models")
REPO = Path(__file__).resolve().parents[1]


class Mode(NamedTuple):
    bf16: bool
    channels_last: bool


MODES = {
    "fp32": Mode(False, False),
    "bf16": Mode(True, False),
    "bf16_channels_last": Mode(True, True),
    "fp32_channels_last": Mode(False, True),
}
SMOKE_MODES = ("fp32", "bf16")
# the bf16 run: the default model (synthetic_default) on 16 scenes of 64x96, batch 4: 4 iterations, profiled
E2E_SETS = (
    "data.n_train=16",
    "data.n_val=8",
    "data.train_size=[64,96]",
    "train.epochs=1",
    "train.batch_size=4",
    "eval.batch_size=8",
)


class Settings(NamedTuple):
    device: torch.device
    smoke: bool
    models: list[str]
    modes: list[str]
    batch: int
    size: tuple[int, int]
    warmup: int
    iters: int
    budget_s: float
    run_timeout_s: float
    parts: list[str]
    cudnn_benchmark: bool


def _error(e: BaseException) -> str:
    """One line: the exception's type and its message's first 300 characters."""
    return f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"


def slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (the report's default file name)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu"


def parse_size(text: str) -> tuple[int, int]:
    """'480,640' (or 480x640) -> (480, 640); both sides multiples of 32 (the backbones' output stride)."""
    from mtbench.errors import UsageError
    from mtbench.nn.common import OUTPUT_STRIDE

    parts = text.lower().replace("x", ",").split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise UsageError(f"--size {text}: expected H,W, e.g. 480,640")
    h, w = int(parts[0]), int(parts[1])
    if h <= 0 or w <= 0 or h % OUTPUT_STRIDE or w % OUTPUT_STRIDE:
        raise UsageError(f"--size {h}x{w}: both sides must be positive multiples of {OUTPUT_STRIDE}, e.g. 480,640")
    return h, w


# ----------------------------------------------------------------------------------------------- environment


def device_facts(device: torch.device) -> dict[str, Any]:
    """The report's header: device, versions and the numerics settings that change timings."""
    from mtbench.engine.runtime import environment

    env = environment(device)
    facts: dict[str, Any] = {
        "device": {"type": device.type, "name": env["gpu"] or env["cpu"]},
        "versions": {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "python": env["python"],
            "mtbench": env["mtbench"],
            "git_commit": env["git_commit"],
        },
        "cpu": env["cpu"],
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        facts["device"].update(
            capability=f"{p.major}.{p.minor}",
            memory_gib=round(p.total_memory / 2**30, 1),
            multiprocessors=p.multi_processor_count,
            count=torch.cuda.device_count(),
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
        with contextlib.suppress(Exception):  # a build without NCCL
            v = torch.cuda.nccl.version()
            facts["versions"]["nccl"] = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
    return facts


# ------------------------------------------------------------------------------------------------ the models


def model_configs(names: list[str], size: tuple[int, int], batch: int) -> list[tuple[str, Any]]:
    """(label, RunConfig) per network: each model at the NYUD recipe, no pretrained weights, input ``size``,
    ``batch``; a model that takes no HRNet gets its default backbone; one-net-per-task models one per task."""
    from mtbench.config import build_config
    from mtbench.engine.run import split_single_task
    from mtbench.registry import model_info

    out = []
    for name in names:
        info = model_info(name)
        sets = [f"model.name={name}", "model.pretrained=null", f"data.train_size=[{size[0]},{size[1]}]"]
        sets.append(f"train.batch_size={batch}")
        cfg = build_config(RECIPE, sets)
        if not info.backbones.accepts(cfg.model.backbone):
            cfg = build_config(RECIPE, [*sets, f"model.backbone={info.backbones.default}"])
        parts = split_single_task(cfg)
        for c in parts:
            out.append((name if len(parts) == 1 else f"{name} ({','.join(c.data.tasks or [])})", c))
    return out


def fake_batch(exp: Any, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random input and targets of every trained task (classes drawn uniformly, float targets in [0.5, 1.5))."""
    from mtbench.registry import get_task

    g = torch.Generator().manual_seed(seed)
    h, w = exp.train_size
    out = {"image": torch.randn(batch, 3, h, w, generator=g)}
    for t in exp.tasks + exp.aux_tasks:
        task = get_task(t)
        if task.target_dtype == torch.int64:
            out[t] = torch.randint(0, exp.spec.num_classes[t], (batch, h, w), generator=g)
        else:
            c = exp.spec.out_channels([t])[t]
            out[t] = torch.rand(batch, c, h, w, generator=g) + 0.5
    return out


def bench_mode(model: torch.nn.Module, cfg: Any, loss_fn: Any, cpu_batch: dict, mode: Mode, s: Settings) -> dict:
    """One model in one mode: forward and train-step times (ms per batch) and a train step's peak memory."""
    from mtbench.engine.evaluate import to_device
    from mtbench.engine.optim import build_optimizer
    from mtbench.engine.trainer import float_outputs
    from mtbench.profiling import peak_memory_mb, reset_peak_memory, time_ms

    dev = s.device
    model.to(memory_format=torch.channels_last if mode.channels_last else torch.contiguous_format)
    batch = to_device(cpu_batch, dev, mode.channels_last)
    image = batch["image"]

    def amp() -> contextlib.AbstractContextManager:
        return torch.autocast(dev.type, dtype=torch.bfloat16) if mode.bf16 else contextlib.nullcontext()

    opt = build_optimizer(model, cfg.train)

    def forward() -> None:
        with torch.no_grad(), amp():
            model(image)

    def step() -> None:
        with amp():
            out = model(image)
        total, _ = loss_fn(float_outputs(out), batch)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()

    try:
        model.eval()
        fwd = time_ms(forward, dev, s.warmup, s.iters)
        model.train()
        train = time_ms(step, dev, s.warmup, s.iters)
        peak = None
        if dev.type == "cuda":  # one more step, its own peak (the optimiser's state exists by now)
            reset_peak_memory(dev)
            step()
            torch.cuda.synchronize(dev)
            peak = round(peak_memory_mb(dev, "train")[0], 1)
    finally:  # the gradients go; the optimiser's state goes with this function
        opt.zero_grad(set_to_none=True)
    fwd_ms, train_ms = statistics.median(fwd), statistics.median(train)
    return {
        "forward_ms": round(fwd_ms, 3),
        "train_step_ms": round(train_ms, 3),
        "train_images_per_s": round(1e3 * s.batch / train_ms, 2),
        "train_peak_mib": peak,
        "forward_ms_all": [round(t, 3) for t in fwd],
        "train_step_ms_all": [round(t, 3) for t in train],
    }


def bench_model(label: str, cfg: Any, s: Settings, deadline: float, notes: list[str]) -> dict[str, Any]:
    """Build one network, count its GMACs, time it in every mode of ``s.modes`` until ``deadline``."""
    from mtbench.engine.losses import MultiTaskLoss
    from mtbench.engine.run import build_model, resolve_experiment
    from mtbench.profiling import count_gmacs, count_params

    entry: dict[str, Any] = {
        "label": label,
        "model": cfg.model.name,
        "backbone": cfg.model.backbone,
        "tasks": None,
        "aux_tasks": None,
        "kwargs": cfg.model.kwargs,
        "params": None,
        "gmacs": None,
        "gmacs_unsupported_ops": None,
        "modes": {},
        "error": None,
    }
    model = None
    try:
        exp = resolve_experiment(cfg)
        entry["tasks"], entry["aux_tasks"] = exp.tasks, exp.aux_tasks
        model = build_model(cfg, exp)
        entry["params"] = count_params(model)
        gmacs, unsupported = count_gmacs(model, exp.train_size, s.device)
        entry["gmacs"], entry["gmacs_unsupported_ops"] = gmacs, unsupported
        loss_fn = MultiTaskLoss(exp.tasks, exp.aux_tasks, cfg.train.task_weights)
        cpu_batch = fake_batch(exp, s.batch)
        for name in s.modes:
            if time.monotonic() > deadline:
                entry["modes"][name] = {"skipped": "budget spent"}
                notes.append(f"{label} {name}: skipped, --budget-s {s.budget_s:g} spent")
                continue
            try:
                entry["modes"][name] = bench_mode(model, cfg, loss_fn, cpu_batch, MODES[name], s)
            except Exception as e:  # e.g. CUDA out of memory, bf16 unsupported: recorded, the next mode runs
                entry["modes"][name] = {"error": _error(e)}
                model.zero_grad(set_to_none=True)
                if s.device.type == "cuda":
                    torch.cuda.empty_cache()
    except Exception as e:
        entry["error"] = _error(e)
    finally:
        del model
        if s.device.type == "cuda":
            torch.cuda.empty_cache()
    return entry


def run_models(s: Settings, deadline: float, notes: list[str], on_entry: Any = None) -> list[dict[str, Any]]:
    """Every network of ``s.models`` (bench_model), in order; those reached after ``deadline`` are skipped."""
    from mtbench.engine.runtime import seed_everything

    entries = []
    configs = model_configs(s.models, s.size, s.batch)
    # cuDNN as `mtbench run` sets it (run.deterministic: deterministic kernels, no autotuning) unless asked
    deterministic = (configs[0][1].run.deterministic if configs else True) and not s.cudnn_benchmark
    seed_everything(0, deterministic)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = s.cudnn_benchmark, deterministic
    for label, cfg in configs:
        if time.monotonic() > deadline:
            entries.append(
                {"label": label, "model": cfg.model.name, "backbone": cfg.model.backbone, "skipped": "budget spent"}
            )
            notes.append(f"{label}: skipped, --budget-s {s.budget_s:g} spent")
        else:
            entries.append(bench_model(label, cfg, s, deadline, notes))
        if on_entry is not None:
            on_entry(entries)
    return entries


# -------------------------------------------------------------------------------------------- the two runs


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment, with this checkout first on PYTHONPATH (the child runs the same mtbench),
    the Hugging Face hub offline (nothing is downloaded) and ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.update(extra)
    return env


def run_child(cmd: list[str], env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Run ``cmd`` in its own process group, killed (the group) after ``timeout_s``; rc, wall seconds, output."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    error = None
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # torchrun's workers too
        output, _ = proc.communicate()
        error = f"timed out after {timeout_s:.0f} s (killed)"
    rc = proc.returncode
    if error is None and rc != 0:
        lines = [ln for ln in (output or "").splitlines() if ln.strip()]
        error = f"exit code {rc}: {lines[-1][:300] if lines else 'no output'}"
    return {
        "cmd": shlex.join(cmd),
        "rc": rc,
        "wall_s": round(time.monotonic() - t0, 2),
        "error": error,
        "output": output or "",
    }


def record_summary(results: Path) -> dict[str, Any]:
    """The one record a run wrote under ``results``: id, primary and summary metrics, timings, cost, notes."""
    from mtbench.engine.trainer import summary_metrics
    from mtbench.reporting.results import load_records

    records = load_records(results)
    if len(records) != 1:
        raise RuntimeError(f"expected one record under {results}, found {len(records)}")
    r = records[0]
    cost = r.cost.model_dump(mode="json")
    return {
        "id": r.id,
        "model": r.model,
        "primary": r.primary,
        "metrics": summary_metrics(r.metrics),  # type: ignore[arg-type]
        "timings": r.timings,
        "cost": {k: cost.get(k) for k in ("params", "gmacs", "latency_ms", "peak_mem_mb", "mem_kind", "device")},
        "env_gpu": r.env.gpu,
        "notes": r.notes,
    }


def _finish(res: dict[str, Any], results: Path) -> dict[str, Any]:
    """Attach the record to a run's result (rc 0) or keep the output's tail (failure)."""
    output = res.pop("output")
    if res["rc"] == 0 and res["error"] is None:
        try:
            res["record"] = record_summary(results)
        except Exception as e:
            res["error"] = _error(e)
    if res["error"] is not None:
        res["output_tail"] = output[-3000:]
    return res


def run_torchrun(s: Settings, tmp: Path) -> dict[str, Any]:
    """The CI preset's first model at the tiny CI config under torchrun, one process, distributed (NCCL on CUDA)."""
    from mtbench.sweep import PRESETS

    preset = PRESETS["ci"]
    dev = s.device.type
    sets = [*preset.sets, *preset.entries[0].sets, f"run.results={tmp / 'results'}", f"run.runs_dir={tmp / 'runs'}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"]
    cmd += ["-m", "mtbench", "run", "--device", dev, "--model", preset.entries[0].model, "--quiet"]
    cmd += [a for item in sets for a in ("--set", item)]
    extra = {"MTBENCH_DISTRIBUTED": "1"}
    if dev == "cuda":
        extra["NCCL_DEBUG"] = "VERSION"  # NCCL prints its version when a communicator starts: NCCL was used
    res = run_child(cmd, _child_env(extra), s.run_timeout_s)
    found = re.search(r"NCCL version ([\w.+-]+)", res["output"])
    res.update(backend="nccl" if dev == "cuda" else "gloo", nccl_version=found.group(1) if found else None)
    res = _finish(res, tmp / "results")
    rec = res.get("record")
    # a distributed evaluation keeps no per-image statistics: the record's notes say so for every task
    res["distributed"] = rec is not None and any("distributed evaluation" in n for n in rec["notes"])
    if rec and not res["distributed"] and res["error"] is None:
        res["error"] = "the run was not distributed (no 'distributed evaluation' note in its record)"
    if dev == "cuda" and res["error"] is None and res["nccl_version"] is None:
        res["error"] = "no 'NCCL version' line in the output (NCCL_DEBUG=VERSION): NCCL not used?"
    return res


def run_e2e(s: Settings, tmp: Path) -> dict[str, Any]:
    """``mtbench run --device <dev> --set train.amp=bf16`` of the default model on tiny synthetic data."""
    dev = s.device.type
    sets = ["train.amp=bf16", *E2E_SETS, f"run.results={tmp / 'results'}", f"run.runs_dir={tmp / 'runs'}"]
    cmd = [sys.executable, "-m", "mtbench", "run", "--device", dev, "--quiet"]
    cmd += [a for item in sets for a in ("--set", item)]
    res = run_child(cmd, _child_env({}), s.run_timeout_s)
    return _finish(res, tmp / "results")


def run_part(fn: Any, s: Settings) -> dict[str, Any]:
    """A run part in a fresh temporary folder; anything raised becomes the part's error."""
    try:
        with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
            return fn(s, Path(tmp))
    except Exception as e:
        return {"error": _error(e)}


# ------------------------------------------------------------------------------------------------- report


def _cell(m: dict[str, Any] | None) -> str:
    if not m:
        return ""
    if "skipped" in m:
        return "skipped"
    if m.get("error"):
        return "error"
    mem = f" [{m['train_peak_mib']:.0f}]" if m.get("train_peak_mib") is not None else ""
    return f"{m['forward_ms']:.1f} / {m['train_step_ms']:.1f}{mem}"


def table(report: dict[str, Any]) -> str:
    """The models as one row each: params, GMACs, per mode 'forward / train-step ms per batch [peak MiB]'."""
    from tabulate import tabulate

    modes = report["settings"]["modes"]
    rows = []
    for e in report.get("models") or []:
        params = f"{e['params'] / 1e6:.2f}" if e.get("params") else ""
        gmacs = f"{e['gmacs']:.2f}" if e.get("gmacs") is not None else ""
        status = e.get("error") or e.get("skipped") or ""
        cells = [_cell(e.get("modes", {}).get(m)) for m in modes]
        rows.append([e["label"], e.get("backbone", ""), params, gmacs, *cells, status[:60]])
    head = ["model", "backbone", "params M", "GMACs"] + [f"{m} fwd/train ms [MiB]" for m in modes] + [""]
    lines = [tabulate(rows, head, tablefmt="github")] if rows else []
    for part in ("torchrun", "e2e"):
        r = report.get(part)
        if r is not None:
            what = f"rc {r.get('rc')}, {r.get('wall_s')} s" if "rc" in r else "not run"
            extra = f", NCCL {r['nccl_version']}" if r.get("nccl_version") else ""
            lines.append(f"{part}: {what}{extra}" + (f"; ERROR {r['error']}" if r.get("error") else "; ok"))
    return "\n".join(lines)


def errors(report: dict[str, Any]) -> list[str]:
    """Every failure in the report, one line each (skips are not failures)."""
    out = [f"{p}: {report[p]['error']}" for p in ("torchrun", "e2e") if (report.get(p) or {}).get("error")]
    for e in report.get("models") or []:
        if e.get("error"):
            out.append(f"{e['label']}: {e['error']}")
        out += [f"{e['label']} {m}: {r['error']}" for m, r in (e.get("modes") or {}).items() if r.get("error")]
    return out


def write_report(report: dict[str, Any], out: Path) -> None:
    from mtbench.reporting.results import atomic_write_text

    atomic_write_text(out, json.dumps(report, indent=2) + "\n")


def check(s: Settings, out: Path) -> dict[str, Any]:
    """Run the parts of ``s``; the report is written to ``out`` after each part (complete: true at the end)."""
    t0 = time.monotonic()
    deadline = t0 + s.budget_s
    notes: list[str] = []
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_smoke": s.smoke,
        **device_facts(s.device),
        "settings": {
            "recipe": RECIPE,
            "batch": s.batch,
            "input_size": list(s.size),
            "modes": s.modes,
            "warmup": s.warmup,
            "iters": s.iters,
            "budget_s": s.budget_s,
            "run_timeout_s": s.run_timeout_s,
            "parts": s.parts,
            "timing": "ms per batch, median of iters after warmup (CUDA events on CUDA, perf_counter on CPU)",
            "memory": "torch.cuda.max_memory_allocated of one train step after reset_peak_memory_stats, MiB",
            "gmacs": "fvcore, batch 1, eval (mtbench.profiling.count_gmacs)",
        },
        "torchrun": None,
        "e2e": None,
        "models": None,
        "notes": notes,
        "complete": False,
    }
    write_report(report, out)
    if "torchrun" in s.parts:
        report["torchrun"] = run_part(run_torchrun, s)
        write_report(report, out)
    if "e2e" in s.parts:
        report["e2e"] = run_part(run_e2e, s)
        write_report(report, out)
    if "models" in s.parts:
        report["settings"]["cudnn"] = None  # filled in once the models' part has set cuDNN up

        def progress(entries: list[dict[str, Any]]) -> None:
            report["models"] = entries
            report["settings"]["cudnn"] = {
                "benchmark": torch.backends.cudnn.benchmark,
                "deterministic": torch.backends.cudnn.deterministic,
                "allow_tf32": torch.backends.cudnn.allow_tf32,
                "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            }
            write_report(report, out)
            e = entries[-1]
            print(f"[{time.monotonic() - t0:5.0f} s] {e['label']}: {e.get('error') or e.get('skipped') or 'done'}")

        try:
            report["models"] = run_models(s, deadline, notes, progress)
        except Exception as e:  # e.g. an unknown --models name
            report["models_error"] = _error(e)
    report["total_s"] = round(time.monotonic() - t0, 1)
    report["errors"] = errors(report) + ([f"models: {report['models_error']}"] if "models_error" in report else [])
    report["complete"] = True
    write_report(report, out)
    return report


def settings(a: argparse.Namespace) -> Settings:
    from mtbench.registry import list_models

    smoke = a.cpu_smoke
    names = list_models() if a.models == "all" else [m.strip() for m in a.models.split(",") if m.strip()]
    modes = list(SMOKE_MODES if smoke else MODES) if a.modes is None else a.modes.split(",")
    parts = a.parts.split(",")
    bad = [m for m in modes if m not in MODES] + [p for p in parts if p not in PARTS]
    if bad:
        raise ValueError(
            f"unknown mode or part {', '.join(bad)} (modes: {', '.join(MODES)}; parts: {', '.join(PARTS)})"
        )
    return Settings(
        device=torch.device("cpu" if smoke else "cuda"),
        smoke=smoke,
        models=names,
        modes=modes,
        batch=a.batch or (2 if smoke else 8),
        size=parse_size(a.size or ("64,96" if smoke else "480,640")),
        warmup=a.warmup if a.warmup is not None else (1 if smoke else 3),
        iters=a.iters or (2 if smoke else 10),
        budget_s=a.budget_s,
        run_timeout_s=a.run_timeout_s,
        parts=parts,
        cudnn_benchmark=a.cudnn_benchmark,
    )


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="report path (default results/gpu/<gpu-name>.json)")
    ap.add_argument("--models", default="all", help="all (every registered model) or a,b,...")
    ap.add_argument(
        "--modes", default=None, help=f"comma-separated of {', '.join(MODES)} (default: all; smoke: fp32,bf16)"
    )
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated of {', '.join(PARTS)} (default: all)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default 8; smoke 2)")
    ap.add_argument("--size", default=None, help="input H,W, multiples of 32 (default 480,640; smoke 64,96)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 3; smoke 1)")
    ap.add_argument("--iters", type=int, default=None, help="timed calls, median reported (default 10; smoke 2)")
    ap.add_argument("--budget-s", type=float, default=420, help="seconds after which models/modes left are skipped")
    ap.add_argument("--run-timeout-s", type=float, default=120, help="time limit of each of the two runs")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="cuDNN autotuning (mtbench run does not)")
    ap.add_argument("--cpu-smoke", action="store_true", help="run the same code paths on CPU at a tiny size")
    a = ap.parse_args(argv)
    if not a.cpu_smoke and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    from mtbench.errors import MtbenchError

    try:
        s = settings(a)
    except (MtbenchError, ValueError) as e:  # an unknown model, mode or part, a bad --size
        print(f"gpu_check: {e}", file=sys.stderr)
        return 2
    if a.out is not None:
        out = a.out
    elif s.smoke:
        out = REPO / "results" / "local" / "gpu-check-cpu-smoke.json"
    else:
        out = REPO / "results" / "gpu" / f"{slug(torch.cuda.get_device_name(s.device))}.json"
    report = check(s, out)
    print(table(report))
    for line in report["notes"]:
        print(f"note: {line}")
    for line in report["errors"]:
        print(f"error: {line}")
    print(f"report: {out} ({report['total_s']} s)")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
