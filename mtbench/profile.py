"""Model cost: parameters, GMACs (fvcore), training peak memory, inference latency.

Convention: params = raw count of trainable and frozen parameters (buffers excluded); gmacs = fvcore
FlopCountAnalysis total / 1e9 for one forward pass at batch 1 in eval() mode (fvcore counts one
multiply-add as one flop, so this is GMACs; BN, upsampling and pooling are counted as fvcore does,
elementwise adds are not); peak memory in MiB; latency in milliseconds, median of ``iters`` runs.
"""
from __future__ import annotations

import logging
import resource
import statistics
import sys
import time
from typing import Any

import torch
import torch.nn as nn

from mtbench.errors import UsageError
from mtbench.nn.common import check_input_hw

log = logging.getLogger(__name__)


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


def count_gmacs(model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = "cpu",
                by_module: bool = False) -> tuple[float, dict[str, int]] | tuple[float, dict[str, int], dict[str, float]]:
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
            per_mod = None
            if by_module:
                bm = fa.by_module()
                per_mod = {k[len("model."):]: v / 1e9 for k, v in bm.items()
                           if k.startswith("model.") and k.count(".") == 1}
    finally:
        model.train(was_training)
    return (total, unsupported, per_mod) if by_module else (total, unsupported)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = "cpu",
                    warmup: int = 5, iters: int = 20) -> float:
    """Convention: milliseconds per forward pass (batch 1, eval(), no_grad), median of ``iters`` runs
    after ``warmup`` runs; CUDA events on CUDA, time.perf_counter on CPU. Lower is better."""
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    x = torch.randn(1, 3, *input_hw, device=device)
    times = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                model(x)
            _sync(device)
            for _ in range(iters):
                if device.type == "cuda":
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    model(x)
                    end.record()
                    torch.cuda.synchronize(device)
                    times.append(start.elapsed_time(end))
                else:
                    t0 = time.perf_counter()
                    model(x)
                    times.append((time.perf_counter() - t0) * 1e3)
    finally:
        model.train(was_training)
    return float(statistics.median(times))


def train_step(model: nn.Module, x: torch.Tensor) -> None:
    """One forward + backward in train() mode on the sum of every output's mean (aux included)."""
    was_training = model.training
    model.train()
    try:
        loss = sum(t.float().mean() for t in _flatten(model(x)))
        loss.backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def measure_train_peak_memory(model: nn.Module, input_hw: tuple[int, int], batch_size: int = 2,
                              device: str | torch.device = "cpu") -> tuple[float, str]:
    """Convention: MiB, lower is better. On CUDA torch.cuda.max_memory_allocated during one fwd+bwd
    step at ``batch_size`` (kind 'cuda_max_allocated_train'); on CPU the process's peak RSS after such a
    step (kind 'cpu_peak_rss': whole-process high-water mark, an upper bound)."""
    device = torch.device(device)
    model.to(device)
    x = torch.randn(batch_size, 3, *input_hw, device=device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        train_step(model, x)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated_train"
    train_step(model, x)
    return peak_rss_mb(), "cpu_peak_rss"


def profile_model(model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = "cpu", *,
                  gmacs: bool = True, memory: bool = True, latency: bool = True, batch_size: int = 2,
                  warmup: int = 5, iters: int = 20) -> dict[str, Any]:
    """All costs of one model; keys match mtbench.reporting.results.Cost. GMACs are counted on CPU (fvcore)."""
    input_hw = (int(input_hw[0]), int(input_hw[1]))
    check_input_hw(*input_hw)
    device = torch.device(device)
    out: dict[str, Any] = {"params": count_params(model), "gmacs": None, "input_size": input_hw,
                           "peak_mem_mb": None, "mem_kind": None, "latency_ms": None,
                           "device": _device_name(device), "unsupported_ops": {}}
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


def parse_model_sets(items: list[str] | None) -> dict[str, Any]:
    """['model.fpm=false', 'model.channels=128'] -> {'fpm': False, 'channels': 128} (YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("model.") or len(key) <= len("model."):
            raise UsageError(f"--set {item}: expected model.<option>=<value>, e.g. model.fpm=false.")
        out[key[len("model."):]] = yaml.safe_load(value)
    return out


def split_names(values: list[str] | None) -> list[str] | None:
    """Accept repeated options and comma-separated lists: ['semseg,depth'] -> ['semseg', 'depth']."""
    if values is None:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def profile_by_name(model: str, dataset: str, *, backbone: str | None = None, tasks: list[str] | None = None,
                    aux_tasks: list[str] | None = None, input_hw: tuple[int, int] | None = None,
                    device: str | None = None, by_module: bool = False,
                    model_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build ``model`` for ``dataset``'s output channels (no dataset files) and profile it.

    The backbone defaults to the model entry point's default (hrnet18; resnet18 for the ResNet-only
    models), tasks to the dataset's default tasks, aux tasks to none, the input to the dataset's
    evaluation (else training) size. Memory and latency are measured only on CUDA.
    Returns profile_model's dict plus model/dataset/backbone/tasks and, with ``by_module``,
    'gmacs_by_module'.
    """
    from mtbench.data.spec import get_dataset_spec
    import inspect

    from mtbench.registry import create_model, model_entrypoint

    if backbone is None:
        backbone = inspect.signature(model_entrypoint(model)).parameters["backbone"].default
    spec = get_dataset_spec(dataset)
    tasks = list(tasks) if tasks else list(spec.default_tasks)
    aux_tasks = list(aux_tasks or [])
    spec.check_tasks(tasks + aux_tasks)
    input_hw = input_hw or spec.eval_size or spec.train_size
    check_input_hw(*input_hw)
    if device not in (None, "cpu", "cuda", "auto"):
        raise UsageError(f"--device {device}: expected cpu, cuda or auto.")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine; use --device cpu.")
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(auto if device in (None, "auto") else device)
    net = create_model(model, tasks=tasks, aux_tasks=aux_tasks, out_channels=spec.out_channels(tasks + aux_tasks),
                       backbone=backbone, pretrained=None, **(model_kwargs or {}))
    on_cuda = dev.type == "cuda"
    res = profile_model(net, input_hw, dev, gmacs=not by_module, memory=on_cuda, latency=on_cuda)
    res.update(model=model, dataset=dataset, backbone=backbone, tasks=tasks, aux_tasks=aux_tasks)
    if by_module:
        res["gmacs"], res["unsupported_ops"], res["gmacs_by_module"] = count_gmacs(net, input_hw, "cpu", True)
        res["params_by_module"] = {n: count_params(m) for n, m in net.named_children()}
    return res


def format_profile(res: dict[str, Any]) -> str:
    """Human-readable lines for one profile_by_name result."""
    h, w = res["input_size"]
    lines = [f"{res['model']} / {res['backbone']} on {res['dataset']}: tasks {','.join(res['tasks'])}"
             + (f" + aux {','.join(res['aux_tasks'])}" if res["aux_tasks"] else "") + f", input {h}x{w}",
             f"  params        {res['params']:,}",
             f"  GMACs         {res['gmacs']:.2f}   (fvcore, one multiply-add = one MAC, batch 1, eval)"]
    if res.get("unsupported_ops"):
        lines.append(f"  not counted   {', '.join(f'{k}×{v}' for k, v in sorted(res['unsupported_ops'].items()))}")
    if res.get("peak_mem_mb") is not None:
        lines.append(f"  peak memory   {res['peak_mem_mb']:.0f} MiB ({res['mem_kind']}, batch 2 fwd+bwd)")
    if res.get("latency_ms") is not None:
        lines.append(f"  latency       {res['latency_ms']:.2f} ms (median, batch 1, {res['device']})")
    for name, g in (res.get("gmacs_by_module") or {}).items():
        lines.append(f"    {name:<14} {g:8.3f} GMACs  {res['params_by_module'].get(name, 0):>12,} params")
    return "\n".join(lines)
