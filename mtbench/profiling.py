"""Model cost: parameters, GMACs (fvcore), peak memory, inference latency; ``mtbench profile`` (``profile_config``)
and the cost in run records (``engine.run.measure_cost``).

Convention: params = raw count of trainable and frozen parameters (buffers excluded); gmacs = fvcore
FlopCountAnalysis total / 1e9 for one forward pass at batch 1 in eval() mode (fvcore counts one
multiply-add as one flop, so this is GMACs; BN, upsampling and pooling are counted as fvcore does,
elementwise adds are not); peak memory in MiB; latency in milliseconds, median of ``iters`` runs.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import torch
import torch.nn as nn

from mtbench.errors import UsageError
from mtbench.nn.common import check_input_hw

if TYPE_CHECKING:
    from mtbench.config import RunConfig


class _TupleOutput(nn.Module):
    """Flatten a model's dict output (aux included) to a tuple so the jit tracer can follow it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(_flatten(self.model(x)))


def _flatten(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in _flatten(out[k])]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _flatten(v)]
    return []


def parse_input(text: str) -> tuple[int, int]:
    """'480x640' -> (480, 640); both sides must be multiples of 32 (UsageError naming --input)."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise UsageError(f"--input {text}: expected HxW, e.g. 480x640.")
    h, w = int(parts[0]), int(parts[1])
    check_input_hw(h, w)
    return h, w


def count_params(model: nn.Module) -> int:
    """Convention: raw number of parameters (BN running statistics and other buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def _flop_analysis(model: nn.Module, input_hw: tuple[int, int], device: str | torch.device):
    import warnings

    with warnings.catch_warnings():  # fvcore's import triggers torch.jit.script deprecation warnings
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    x = torch.randn(1, 3, *input_hw, device=device)
    fa = FlopCountAnalysis(_TupleOutput(model), x)
    fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    return fa


@overload
def count_gmacs(
    model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = ..., by_module: Literal[False] = ...
) -> tuple[float, dict[str, int]]: ...
@overload
def count_gmacs(
    model: nn.Module, input_hw: tuple[int, int], device: str | torch.device, by_module: Literal[True]
) -> tuple[float, dict[str, int], dict[str, float]]: ...
@overload
def count_gmacs(
    model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = ..., *, by_module: Literal[True]
) -> tuple[float, dict[str, int], dict[str, float]]: ...
@overload
def count_gmacs(
    model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = ..., by_module: bool = ...
) -> tuple[float, dict[str, int]] | tuple[float, dict[str, int], dict[str, float]]: ...
def count_gmacs(
    model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = "cpu", by_module: bool = False
) -> tuple[float, dict[str, int]] | tuple[float, dict[str, int], dict[str, float]]:
    """Convention: GMACs (one multiply-add = one MAC = fvcore's 'flop') / 1e9, batch 1, eval() mode.

    Returns (gmacs, unsupported ops {op: count}); with ``by_module`` also {top-level module: GMACs}.
    The model is moved to ``device`` and its train/eval mode restored afterwards.
    """
    check_input_hw(*input_hw)
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            fa = _flop_analysis(model, input_hw, device)
            total = fa.total() / 1e9
            unsupported = dict(fa.unsupported_ops())
            per_mod: dict[str, float] = {}  # returned only with by_module, which sets it
            if by_module:
                bm = fa.by_module()
                per_mod = {
                    k[len("model.") :]: v / 1e9 for k, v in bm.items() if k.startswith("model.") and k.count(".") == 1
                }
    finally:
        model.train(was_training)
    return (total, unsupported, per_mod) if by_module else (total, unsupported)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: str | torch.device, warmup: int = 5, iters: int = 20) -> list[float]:
    """Milliseconds of each of ``iters`` calls of ``fn()``, after ``warmup`` calls: on CUDA between two CUDA
    events around the call (the device idle before it: synchronised), on CPU by time.perf_counter."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(float(start.elapsed_time(end)))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def measure_latency(
    model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = "cpu", warmup: int = 5, iters: int = 20
) -> float:
    """Convention: milliseconds per forward pass (batch 1, eval(), no_grad), median of ``iters`` runs
    after ``warmup`` runs; CUDA events on CUDA, time.perf_counter on CPU (``time_ms``). Lower is better."""
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    x = torch.randn(1, 3, *input_hw, device=device)
    try:
        with torch.no_grad():
            times = time_ms(lambda: model(x), device, warmup, iters)
    finally:
        model.train(was_training)
    return float(statistics.median(times))


def train_step(model: nn.Module, x: torch.Tensor) -> None:
    """One forward + backward in train() mode on the sum of every output's mean (aux included)."""
    was_training = model.training
    model.train()
    try:
        # a tensor: every model has at least one output (an empty sum, int 0, would fail on backward() alike)
        loss = cast(torch.Tensor, sum(t.float().mean() for t in _flatten(model(x))))
        loss.backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def peak_memory_mb(device: str | torch.device, phase: str) -> tuple[float, str]:
    """Convention: MiB, lower is better; returns (value, kind). The peak of this process so far: on CUDA
    torch.cuda.max_memory_allocated since the last reset_peak_memory_stats, kind 'cuda_max_allocated_<phase>'
    (``phase``: what ran, 'train' or 'eval'); on CPU the peak RSS, kind 'cpu_peak_rss' (whole-process
    high-water mark, an upper bound)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, f"cuda_max_allocated_{phase}"
    return peak_rss_mb(), "cpu_peak_rss"


def reset_peak_memory(device: str | torch.device) -> None:
    """Start a new CUDA peak for ``peak_memory_mb`` (no-op on CPU, whose peak RSS cannot be reset)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def measure_train_peak_memory(
    model: nn.Module, input_hw: tuple[int, int], batch_size: int = 2, device: str | torch.device = "cpu"
) -> tuple[float, str]:
    """Convention: MiB, lower is better. ``peak_memory_mb`` after one fwd+bwd step at ``batch_size``: on CUDA
    the step's own peak (kind 'cuda_max_allocated_train'), on CPU the process's peak RSS ('cpu_peak_rss')."""
    device = torch.device(device)
    model.to(device)
    x = torch.randn(batch_size, 3, *input_hw, device=device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        reset_peak_memory(device)
        train_step(model, x)
        torch.cuda.synchronize(device)
    else:
        train_step(model, x)
    return peak_memory_mb(device, "train")


def profile_model(
    model: nn.Module,
    input_hw: tuple[int, int],
    device: str | torch.device = "cpu",
    *,
    gmacs: bool = True,
    memory: bool = True,
    latency: bool = True,
    batch_size: int = 2,
    warmup: int = 5,
    iters: int = 20,
) -> dict[str, Any]:
    """All costs of one model; keys match mtbench.reporting.results.Cost. GMACs are counted on CPU (fvcore)."""
    input_hw = (int(input_hw[0]), int(input_hw[1]))
    check_input_hw(*input_hw)
    device = torch.device(device)
    out: dict[str, Any] = {
        "params": count_params(model),
        "gmacs": None,
        "input_size": input_hw,
        "peak_mem_mb": None,
        "mem_kind": None,
        "latency_ms": None,
        "device": _device_name(device),
        "unsupported_ops": {},
    }
    if gmacs:
        out["gmacs"], out["unsupported_ops"] = count_gmacs(model, input_hw, "cpu")
    if memory:
        out["peak_mem_mb"], out["mem_kind"] = measure_train_peak_memory(model, input_hw, batch_size, device)
    if latency:
        out["latency_ms"] = measure_latency(model, input_hw, device, warmup, iters)
    model.to("cpu")
    return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"cpu ({platform.processor() or platform.machine()})"


def profile_config(cfg: RunConfig, by_module: bool = False) -> dict[str, Any]:
    """Profile the model that ``mtbench run`` trains for ``cfg``, built by the run's own functions (device,
    tasks, input size, model), at the run's evaluation input size; no dataset files, no weights (the
    architecture alone: ``model.pretrained`` is ignored). Memory and latency are measured only on CUDA.
    Returns profile_model's dict plus model/dataset/backbone/tasks/aux_tasks and, with ``by_module``,
    'gmacs_by_module' and 'params_by_module'.
    """
    from mtbench.engine.run import build_model, resolve_experiment
    from mtbench.engine.runtime import resolve_device

    device = resolve_device(cfg.run.device)
    exp = resolve_experiment(cfg)
    cfg = cfg.model_copy(deep=True)
    cfg.model.pretrained = None
    net = build_model(cfg, exp)
    on_cuda = device.type == "cuda"
    res = profile_model(net, exp.eval_size, device, gmacs=not by_module, memory=on_cuda, latency=on_cuda)
    res.update(
        model=cfg.model.name,
        dataset=cfg.data.dataset,
        backbone=cfg.model.backbone,
        tasks=exp.tasks,
        aux_tasks=exp.aux_tasks,
    )
    if by_module:
        res["gmacs"], res["unsupported_ops"], res["gmacs_by_module"] = count_gmacs(net, exp.eval_size, "cpu", True)
        res["params_by_module"] = {n: count_params(m) for n, m in net.named_children()}
    return res


def format_profile(res: dict[str, Any]) -> str:
    """Human-readable lines for one profile_config result."""
    h, w = res["input_size"]
    lines = [
        f"{res['model']} / {res['backbone']} on {res['dataset']}: tasks {','.join(res['tasks'])}"
        + (f" + aux {','.join(res['aux_tasks'])}" if res["aux_tasks"] else "")
        + f", input {h}x{w}",
        f"  params        {res['params']:,}",
        f"  GMACs         {res['gmacs']:.2f}   (fvcore, one multiply-add = one MAC, batch 1, eval)",
    ]
    if res.get("unsupported_ops"):
        lines.append(f"  not counted   {', '.join(f'{k}×{v}' for k, v in sorted(res['unsupported_ops'].items()))}")
    if res.get("peak_mem_mb") is not None:
        lines.append(f"  peak memory   {res['peak_mem_mb']:.0f} MiB ({res['mem_kind']}, batch 2 fwd+bwd)")
    if res.get("latency_ms") is not None:
        lines.append(f"  latency       {res['latency_ms']:.2f} ms (median, batch 1, {res['device']})")
    for name, g in (res.get("gmacs_by_module") or {}).items():
        lines.append(f"    {name:<14} {g:8.3f} GMACs  {res['params_by_module'].get(name, 0):>12,} params")
    return "\n".join(lines)
