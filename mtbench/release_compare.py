"""Training speed against the MTI-Net release, side by side in one process (``bench_models.py --against-release``).

The release (SimonVandenhende/Multi-Task-Learning-PyTorch) is licensed CC BY-NC 4.0: nothing of it is part of
mtbench. This module imports the checkout that the user names (``RELEASE_DIR``) at run time, builds the
release's models, loss schemes and optimisers with the release's own ``utils.common_config`` functions from the
release's own NYUD HRNet-18 recipes (``configs/nyud/hrnet18/*.yml``), and times their training steps against
mtbench's equivalents. Installing the release's requirements (termcolor, PyYAML, ...) is the user's concern.

What the import scope (``release_imports``) changes, for the duration of the build only: ``RELEASE_DIR`` first on
``sys.path`` and the working directory (the release finds ``models/model_info/hrnet_w18.yml`` relative to it);
stand-ins for what the release imports from older libraries and newer ones removed (``torchvision.models.utils``
without downloads, ``torch._six``, numpy's ``np.int``/``np.float``/``np.bool`` aliases), each only where missing.
Afterwards the release's modules leave ``sys.modules`` (and modules of the same names that were there before come
back), so its ``models``/``utils``/``losses`` packages never shadow anything else. Backbones are built without
pretrained weights: ``backbone_kwargs.pretrained`` is forced to False, and the download function is a stub.

Convention of the timing (``time_interleaved``): milliseconds per training step, median over ``iters`` rounds
after ``warmup`` rounds; every round runs each contender once, the order rotating from round to round (A,B then
B,A) so that neither side always runs first; same input and targets for both (each in its own target encoding).
A step is forward + the model's full training loss (deep supervision included) + backward + optimiser step
(Adam, as the release's recipes): mtbench's is ``mtbench.engine.trainer.train_step`` (what ``mtbench run``
trains with, its NaN guard and loss logging included); the release's is its training loop's core (forward,
criterion, each loss read as a number as its loop logs them, zero_grad, backward, step). Not timed on either
side: data loading, the learning-rate schedule, the release's per-step training metrics (PerformanceMeter).
On CUDA each side runs under its own cuDNN flags (``cudnn_flags``): the release's (benchmark on, as its main.py)
and mtbench's (those of ``run.deterministic``, default true: benchmark off, deterministic on).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import io
import os
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mtbench.errors import MtbenchError, UsageError

RELEASE_CONFIG_DIR = ("configs", "nyud", "hrnet18")
# what a checkout must have for the loader (the fake release of tests/test_bench_release.py has the same)
RELEASE_ENTRY_FILES = ("utils/common_config.py", "configs/nyud/hrnet18")
# the order in which the release lists a task dictionary's tasks (utils/config.py parse_task_dictionary)
RELEASE_TASK_ORDER = ("semseg", "human_parts", "sal", "normals", "edge", "depth")
NYUD_TASKS = ("semseg", "depth", "normals", "edge")
RELEASE_IGNORE = 255  # the release marks invalid depth / normals pixels with 255 (AddIgnoreRegions)


@dataclass(frozen=True)
class Pair:
    """One row of the comparison: the release's recipe file and mtbench's equivalent model."""

    label: str
    release_config: str  # a file under RELEASE_DIR/configs/nyud/hrnet18
    model: str
    tasks: tuple[str, ...]
    aux_tasks: tuple[str, ...] = ()


PAIRS = (
    Pair("mtl", "multi_task_baseline.yml", "mtl", ("semseg", "depth")),
    Pair("padnet", "pad_net.yml", "padnet", ("semseg", "depth")),
    Pair("mtinet", "mti_net.yml", "mtinet", ("semseg", "depth")),
    Pair("mtinet + edge,normals", "mti_net+edges_normals.yml", "mtinet", ("semseg", "depth"), ("edge", "normals")),
)


class ReleaseError(UsageError):
    """The release checkout cannot be imported or built (one line, names the directory)."""


class ParamMismatch(MtbenchError):
    """mtbench's model and the release's have different parameter counts (one line; the pair is not timed)."""


class _AttrDict(dict):
    """A dict whose keys are also attributes (the release reads its config as ``p.TASKS.NAMES`` and ``p['x']``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def check_release_dir(release_dir: str | Path) -> Path:
    """The checkout's absolute path, or a one-line ReleaseError naming what is missing."""
    root = Path(release_dir).expanduser().resolve()
    if not root.is_dir():
        raise ReleaseError(f"--against-release {release_dir}: no such directory")
    missing = [f for f in RELEASE_ENTRY_FILES if not (root / f).exists()]
    if missing:
        raise ReleaseError(
            f"--against-release {release_dir}: not a checkout of the MTI-Net release (missing {', '.join(missing)})"
        )
    return root


def _no_download(*args: Any, **kwargs: Any) -> Any:
    raise ReleaseError("the release asked to download weights; mtbench builds its models without pretrained weights")


def _shims() -> dict[str, types.ModuleType]:
    """Stand-ins for modules the release imports that the installed torch / torchvision no longer have."""
    out: dict[str, types.ModuleType] = {}
    try:
        importlib.import_module("torchvision.models.utils")
    except ImportError:
        tv_utils = types.ModuleType("torchvision.models.utils")
        tv_utils.load_state_dict_from_url = _no_download  # type: ignore[attr-defined]
        out["torchvision.models.utils"] = tv_utils
    try:
        importlib.import_module("torch._six")
    except ImportError:
        six = types.ModuleType("torch._six")
        six.string_classes = (str, bytes)  # type: ignore[attr-defined]
        six.int_classes = int  # type: ignore[attr-defined]
        out["torch._six"] = six
    return out


_NUMPY_ALIASES = {"int": int, "float": float, "bool": bool}


def _top_level_names(root: Path) -> set[str]:
    """Importable top-level names of the checkout (packages and modules), which its imports could shadow."""
    names = {p.stem for p in root.glob("*.py")}
    names |= {p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    return names


@contextlib.contextmanager
def release_imports(release_dir: str | Path) -> Iterator[Path]:
    """Import scope for the release checkout (see the module docstring); yields its absolute path.

    Build everything from the release inside the scope (its functions import lazily); the built objects
    work after it. Restores ``sys.path``, ``sys.modules``, the working directory and numpy on exit.
    """
    import numpy as np

    root = check_release_dir(release_dir)
    names = _top_level_names(root)

    def ours(mod_name: str) -> bool:
        return mod_name.split(".")[0] in names

    shadowed = {k: v for k, v in sys.modules.items() if ours(k)}
    for k in shadowed:
        del sys.modules[k]
    shims = _shims()
    sys.modules.update(shims)
    np_added = [a for a in _NUMPY_ALIASES if a not in np.__dict__]
    for a in np_added:
        setattr(np, a, _NUMPY_ALIASES[a])
    old_path, old_cwd = list(sys.path), os.getcwd()
    sys.path.insert(0, str(root))
    try:
        os.chdir(root)
        yield root
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        for a in np_added:
            delattr(np, a)
        for k in [k for k in sys.modules if ours(k) or k in shims]:
            if k in shims and sys.modules[k] is not shims[k]:
                continue
            del sys.modules[k]
        sys.modules.update(shadowed)


def _release_task_names(task_dictionary: Mapping[str, Any]) -> list[str]:
    names = [t for t in RELEASE_TASK_ORDER if task_dictionary.get(f"include_{t}")]
    bad = [t for t in names if t not in NYUD_TASKS]
    if bad:
        raise ReleaseError(f"release task(s) {', '.join(bad)} are not NYUD tasks of this comparison")
    return names


def release_config(root: Path, pair: Pair, num_outputs: Mapping[str, int]) -> _AttrDict:
    """The release's config ``p`` for ``pair``: its recipe file read from the checkout (YAML), task entries as
    the release's create_config fills them (names, output channels from mtbench's NYUD spec, the loss options
    that the release hard-codes: L1 normals and depth), and ``backbone_kwargs.pretrained`` False."""
    import yaml

    path = root.joinpath(*RELEASE_CONFIG_DIR, pair.release_config)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ReleaseError(f"{path}: cannot read the release's recipe ({type(e).__name__}: {e})") from e
    p = _AttrDict(raw)
    p["backbone_kwargs"] = {**(raw.get("backbone_kwargs") or {}), "pretrained": False}
    tasks = _release_task_names(raw.get("task_dictionary") or {})
    aux_dict = raw.get("auxilary_task_dictionary") or {}
    aux = _release_task_names(aux_dict)

    def entry(names: list[str]) -> _AttrDict:
        return _AttrDict(NAMES=names, NUM_OUTPUT={t: int(num_outputs[t]) for t in names})

    p.TASKS = entry(tasks)
    p.AUXILARY_TASKS = entry(aux)
    p.ALL_TASKS = entry(tasks + [a for a in aux if a not in tasks])
    if "normals" in p.ALL_TASKS.NAMES:
        p["normloss"] = 1  # L1
    if "edge" in p.ALL_TASKS.NAMES:
        p["edge_w"] = aux_dict.get("edge_w", (raw.get("task_dictionary") or {}).get("edge_w"))
    if "depth" in p.ALL_TASKS.NAMES:
        p["depthloss"] = "l1"
    if sorted(set(tasks)) != sorted(pair.tasks) or sorted(set(p.ALL_TASKS.NAMES)) != sorted(
        set(pair.tasks + pair.aux_tasks)
    ):
        raise ReleaseError(
            f"{path}: tasks {tasks} + aux {aux} do not match mtbench's {pair.label} "
            f"({list(pair.tasks)} + aux {list(pair.aux_tasks)})"
        )
    return p


@dataclass
class Side:
    """One contender: its training step (a no-argument callable), its parameter count, how its loss is made."""

    name: str
    step: Callable[[], object]
    params: int
    loss: str = ""
    model: torch.nn.Module | None = field(default=None, repr=False)


class _SummedTaskLosses:
    """Fallback when the release's loss schemes cannot be built: its per-task losses (``get_loss``) weighted
    and summed over every prediction of the output (main tasks, deep supervision), resized to the target."""

    def __init__(self, loss_ft: Mapping[str, Callable], weights: Mapping[str, float]) -> None:
        self.loss_ft, self.weights = dict(loss_ft), dict(weights)

    def _preds(self, out: Any, key: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        if isinstance(out, torch.Tensor):
            task = key.removeprefix("initial_")
            if task in self.loss_ft:
                yield task, out
        elif isinstance(out, Mapping):
            for k, v in out.items():
                yield from self._preds(v, str(k))

    def __call__(self, out: Mapping, gt: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        total = torch.zeros(())
        parts: dict[str, torch.Tensor] = {}
        for i, (t, pred) in enumerate(self._preds(out)):
            size = gt[t].shape[-2:]
            if pred.shape[-2:] != size:
                pred = F.interpolate(pred, size=size, mode="bilinear", align_corners=False)
            parts[f"{i}_{t}"] = self.loss_ft[t](pred, gt[t])
            total = total + self.weights.get(t, 1.0) * parts[f"{i}_{t}"]
        parts["total"] = total
        return parts


def build_release(root: Path, pair: Pair, num_outputs: Mapping[str, int], device: torch.device) -> tuple:
    """(model, criterion, optimizer, loss description) built by the release's own functions for ``pair``."""
    p = release_config(root, pair, num_outputs)
    with release_imports(root), contextlib.redirect_stdout(io.StringIO()):
        try:
            cc = importlib.import_module("utils.common_config")
            model = cc.get_model(p).to(device)
            model.train()
            try:
                criterion = cc.get_criterion(p)
                loss = f"release {type(criterion).__name__}"
            except Exception:  # noqa: BLE001 - any failure of the scheme: fall back to the per-task losses
                loss_ft = {t: cc.get_loss(p, t) for t in p.ALL_TASKS.NAMES}
                weights = (p.get("loss_kwargs") or {}).get("loss_weights") or {}
                criterion = _SummedTaskLosses(loss_ft, weights)
                loss = "release per-task losses, summed here (loss scheme not importable)"
            if isinstance(criterion, torch.nn.Module):
                criterion = criterion.to(device)
            optimizer = cc.get_optimizer(p, model)
        except MtbenchError:
            raise
        except ModuleNotFoundError as e:
            raise ReleaseError(
                f"{root}: cannot import the release ({e}); install the release's own requirements "
                "(mtbench does not depend on them)"
            ) from e
        except Exception as e:
            raise ReleaseError(f"{root}: cannot build the release's {pair.label}: {type(e).__name__}: {e}") from e
    return model, criterion, optimizer, loss


def make_batch(
    tasks: list[str], num_outputs: Mapping[str, int], hw: tuple[int, int], batch: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """A random batch in mtbench's target encoding (semseg int64 B×H×W with 255 ignore, depth B×1×H×W with 0
    invalid, normals B×3×H×W unit vectors with 0 invalid, edge B×1×H×W in {0, 1}); ~10 % invalid pixels."""
    g = torch.Generator().manual_seed(seed)
    h, w = hw
    out = {"image": torch.randn(batch, 3, h, w, generator=g)}
    invalid = torch.rand(batch, 1, h, w, generator=g) < 0.1
    for t in tasks:
        if t == "semseg":
            lab = torch.randint(0, int(num_outputs[t]), (batch, h, w), generator=g)
            out[t] = lab.masked_fill(invalid[:, 0], RELEASE_IGNORE)
        elif t == "depth":
            out[t] = (0.5 + 9.5 * torch.rand(batch, 1, h, w, generator=g)).masked_fill(invalid, 0.0)
        elif t == "normals":
            n = F.normalize(torch.randn(batch, 3, h, w, generator=g), dim=1)
            out[t] = n.masked_fill(invalid, 0.0)
        elif t == "edge":
            out[t] = (torch.rand(batch, 1, h, w, generator=g) < 0.1).float()
        else:
            raise UsageError(f"task '{t}' is not part of the release comparison (NYUD: {', '.join(NYUD_TASKS)})")
    return out


def release_targets(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same targets in the release's encoding: semseg B×1×H×W float, invalid depth / normals = 255."""
    out: dict[str, torch.Tensor] = {}
    for t, v in batch.items():
        if t == "semseg":
            out[t] = v[:, None].float()
        elif t == "depth":
            out[t] = v.masked_fill(v <= 0, RELEASE_IGNORE)
        elif t == "normals":
            out[t] = v.masked_fill((v == 0).all(dim=1, keepdim=True), RELEASE_IGNORE)
        elif t != "image":
            out[t] = v
    return out


@contextlib.contextmanager
def cudnn_flags(benchmark: bool, deterministic: bool) -> Iterator[None]:
    """cuDNN's benchmark / deterministic flags for the block (read at every convolution), restored after it."""
    old = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, deterministic
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = old


# cuDNN as each side trains: the release's main.py turns benchmark on; mtbench's run.deterministic (default true)
# turns benchmark off and deterministic on, run.deterministic=false leaves both off
RELEASE_CUDNN = {"benchmark": True, "deterministic": False}


def mtbench_cudnn(deterministic: bool) -> dict[str, bool]:
    return {"benchmark": False, "deterministic": deterministic}


def release_step(model: torch.nn.Module, criterion: Callable, optimizer: torch.optim.Optimizer, x, gt) -> Callable:
    """The release's training-loop core on one batch (see the module docstring), under its cuDNN flags."""

    def step() -> None:
        with cudnn_flags(**RELEASE_CUDNN):
            losses = criterion(model(x), gt)
            for v in losses.values():
                float(v.detach())  # its loop logs every loss (AverageMeter.update(v.item()))
            optimizer.zero_grad()
            losses["total"].backward()
            optimizer.step()

    return step


def build_mtbench(
    pair: Pair,
    num_outputs: Mapping[str, int],
    weights: Mapping[str, float],
    optim: Mapping[str, Any],
    batch: Mapping[str, torch.Tensor],
    device: torch.device,
    *,
    amp: str = "none",
    channels_last: bool = False,
    compile: bool = False,
    deterministic: bool = True,
    model: torch.nn.Module | None = None,
) -> Side:
    """mtbench's side: the registry's model (or a copy of ``model``), its MultiTaskLoss with the release recipe's
    weights, the engine's optimiser (same type, lr and weight decay), one ``train_step`` per call, under the
    cuDNN flags of ``run.deterministic`` = ``deterministic``."""
    from mtbench.config import TrainCfg
    from mtbench.engine.losses import MultiTaskLoss
    from mtbench.engine.optim import build_optimizer
    from mtbench.engine.trainer import train_step
    from mtbench.profiling import count_params
    from mtbench.registry import create_model

    tasks, aux = list(pair.tasks), list(pair.aux_tasks)
    if model is None:
        net = create_model(pair.model, tasks=tasks, aux_tasks=aux, out_channels=dict(num_outputs), backbone="hrnet18")
    else:
        net = copy.deepcopy(model)
    net = net.to(device).train()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    cfg = TrainCfg(**optim)
    opt = build_optimizer(net, cfg)
    loss_fn = MultiTaskLoss(tasks, aux, weights)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp == "fp16")
    fwd: torch.nn.Module = torch.compile(net) if compile else net  # type: ignore[assignment]
    data = {k: v.to(device) for k, v in batch.items()}

    flags = mtbench_cudnn(deterministic)

    def step() -> None:
        with cudnn_flags(**flags):
            train_step(
                fwd,
                loss_fn,
                opt,
                scaler,
                data,
                device,
                amp=amp,
                channels_last=channels_last,
                check=lambda parts: loss_fn.check_finite(parts, 1, 1),
            )

    name = "mtbench" + (f" {amp}" if amp != "none" else "") + (" cl" if channels_last else "")
    name += " compiled" if compile else ""
    return Side(name, step, count_params(net), "mtbench MultiTaskLoss", net)


def check_params(label: str, release: int, mtbench: int) -> None:
    """ParamMismatch (one line) unless both models have the same number of parameters."""
    if release != mtbench:
        raise ParamMismatch(
            f"{label}: parameter counts differ: release {release:,}, mtbench {mtbench:,} "
            f"({mtbench - release:+,}); not timed"
        )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    steps: Mapping[str, Callable[[], object]], warmup: int, iters: int, device: torch.device | str = "cpu"
) -> dict[str, list[float]]:
    """Milliseconds of each step over ``iters`` rounds after ``warmup`` rounds; each round runs every step once,
    in an order that rotates by one from round to round. Returns {name: [ms per round]}."""
    device = torch.device(device)
    names = list(steps)
    for _ in range(warmup):
        for n in names:
            steps[n]()
    _sync(device)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(iters):
        k = i % len(names)
        for n in names[k:] + names[:k]:
            _sync(device)
            t0 = time.perf_counter()
            steps[n]()
            _sync(device)
            times[n].append((time.perf_counter() - t0) * 1e3)
    return times


@dataclass
class PairResult:
    label: str
    params: dict[str, int]
    times: dict[str, list[float]]
    loss: dict[str, str]

    @property
    def median_ms(self) -> dict[str, float]:
        return {n: float(statistics.median(v)) for n, v in self.times.items()}

    def ratios(self, reference: str = "release") -> dict[str, float]:
        """reference median / each other side's median: > 1 means that side is faster than the release."""
        m = self.median_ms
        return {n: m[reference] / v for n, v in m.items() if n != reference}

    def round_ratios(self, name: str, reference: str = "release") -> tuple[float, float, float]:
        """Quartiles (25 %, 50 %, 75 %) of the per-round ratios reference ms / ``name`` ms: the two steps of a
        round ran back to back, under about the same load; their spread shows how noisy the machine was."""
        r = [a / b for a, b in zip(self.times[reference], self.times[name])]
        if len(r) < 2:
            return r[0], r[0], r[0]
        q1, q2, q3 = statistics.quantiles(r, n=4, method="inclusive")
        return q1, q2, q3


def compare_pair(
    root: Path,
    pair: Pair,
    hw: tuple[int, int],
    batch: int,
    warmup: int,
    iters: int,
    device: torch.device,
    *,
    amp: str = "none",
    channels_last: bool = False,
    compile: bool = False,
    eager_too: bool = True,
    deterministic: bool = True,
) -> PairResult:
    """Build both sides of ``pair``, check their parameter counts (ParamMismatch), time them interleaved.
    With ``compile``, mtbench's step runs both eager (when ``eager_too``) and torch.compile'd."""
    from mtbench.data.spec import get_dataset_spec
    from mtbench.profiling import count_params

    spec = get_dataset_spec("nyud")
    all_tasks = list(pair.tasks + pair.aux_tasks)
    num_outputs = spec.out_channels(all_tasks)
    torch.manual_seed(0)
    r_model, criterion, r_opt, r_loss = build_release(root, pair, num_outputs, device)
    p = release_config(root, pair, num_outputs)
    weights = dict((p.get("loss_kwargs") or {}).get("loss_weights") or {})
    kw = p.get("optimizer_kwargs") or {}  # the release's optimiser, as mtbench's engine builds it
    optim = {"optimizer": p.get("optimizer", "adam"), "lr": float(kw.get("lr", 1e-4))}
    optim.update({k: kw[k] for k in ("weight_decay", "momentum", "nesterov") if k in kw})
    data = make_batch(all_tasks, num_outputs, hw, batch)
    x = data["image"].to(device)
    gt = {k: v.to(device) for k, v in release_targets(data).items()}
    sides = [Side("release", release_step(r_model, criterion, r_opt, x, gt), count_params(r_model), r_loss)]
    build = functools.partial(
        build_mtbench, pair, num_outputs, weights, optim, data, device, amp=amp, channels_last=channels_last
    )
    base = build(deterministic=deterministic)
    check_params(pair.label, sides[0].params, base.params)
    if eager_too or not compile:
        sides.append(base)
    if compile:
        sides.append(build(deterministic=deterministic, compile=True, model=base.model))
    times = time_interleaved({s.name: s.step for s in sides}, warmup, iters, device)
    return PairResult(pair.label, {s.name: s.params for s in sides}, times, {s.name: s.loss for s in sides})


def select_pairs(names: str | None) -> list[Pair]:
    """``names``: comma-separated labels or model names of PAIRS ('mtinet' selects both MTI-Net rows); None: all."""
    if not names:
        return list(PAIRS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    out = [p for p in PAIRS if p.label in wanted or p.model in wanted]
    unknown = [n for n in wanted if not any(n in (p.label, p.model) for p in PAIRS)]
    if unknown or not out:
        raise UsageError(f"--models {names}: unknown; choose among {', '.join(p.label for p in PAIRS)}")
    return out
