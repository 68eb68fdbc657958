"""``mtbench data bench``: samples/s of a dataset's training loader, as the trainer builds it.

The dataset comes from the run's own builder (``build_data``: the dataset's reader, its augmentation at the
run's input size), wrapped as the trainer wraps it (``SeededDataset``, ``ResumableSampler`` in an
``EpochSampler``) and loaded by ``train_loader`` (the trainer's loader: default collate, persistent workers,
pinned memory on CUDA only). For each worker count the loader runs two epochs of ``n`` samples: the first
starts the workers and warms the file cache, the second is timed (the steady state of a training run's
persistent workers). workers = 0 loads in the main process. With ``stages``, the main process also times one
pass over the samples stage by stage: the files read raw by type (JPEG/PNG decode, ``.npy``, ``.mat``), the
dataset's whole read (those files plus its checks and derived targets, e.g. PASCAL's edges from the label
map), the augmentation, the normalisation and the collate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import default_collate

from mtbench.engine.loader import available_cpus, eval_loader, generated_on_the_fly, resolve_workers, train_loader
from mtbench.engine.sampler import EpochSampler, ResumableSampler
from mtbench.engine.seeded import SeededDataset
from mtbench.errors import UsageError


@dataclass
class BenchRow:
    """One worker count: ``first_batch_s`` (the first epoch's wait for its first batch: the workers' start),
    ``seconds`` for the timed epoch's ``samples``, ``main_cpu_s`` the main process's CPU seconds in it (workers
    = 0: the whole loading cost, independent of other load on the machine; else receiving the batches)."""

    workers: int
    samples: int
    seconds: float
    first_batch_s: float
    main_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.samples / max(self.seconds, 1e-9)

    @property
    def per_worker(self) -> float:
        """samples/s per loading process (workers = 0: the main process)."""
        return self.rate / max(1, self.workers)

    @property
    def ms_per_sample(self) -> float:
        return 1000.0 * self.seconds / max(1, self.samples)

    @property
    def main_cpu_ms_per_sample(self) -> float:
        return 1000.0 * self.main_cpu_s / max(1, self.samples)


@dataclass
class DataBench:
    dataset: str
    root: str | None
    split: str
    config: str
    tasks: list[str]
    size: tuple[int, int]
    batch: int
    n: int
    cpus: int
    cpu_count: int
    torch_threads: int
    loadavg_before: tuple[float, float, float] | None
    loadavg_after: tuple[float, float, float] | None = None
    rows: list[BenchRow] = field(default_factory=list)
    stages: dict[str, tuple[float, float]] = field(default_factory=dict)  # (wall, CPU) ms per sample, main process
    auto: dict[str, int] = field(default_factory=dict)  # data.workers=auto on cpu and cuda

    def header(self) -> str:
        def la(v: tuple[float, float, float] | None) -> str:
            return " ".join(f"{x:.2f}" for x in v) if v else "n/a"

        return (
            f"{self.dataset} {self.split} ({self.root or 'generated on the fly'}; recipe {self.config}): "
            f"{self.n} samples per epoch, batch {self.batch}, input {self.size[0]}x{self.size[1]}, "
            f"tasks {','.join(self.tasks)}; "
            f"CPUs {self.cpus} usable of {self.cpu_count}, torch threads {self.torch_threads}; load average "
            f"{la(self.loadavg_before)} before, {la(self.loadavg_after)} after; data.workers=auto: "
            f"{self.auto.get('cpu')} on CPU, {self.auto.get('cuda')} on CUDA"
        )

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows, one per worker count (``TABLE_CAPTION`` says what the columns are)."""
        header = ["workers", "samples/s", "per worker", "ms/sample", "main CPU ms", "start s"]
        rows = [
            [
                f"{r.workers}" + (" (main)" if r.workers == 0 else ""),
                f"{r.rate:.1f}",
                f"{r.per_worker:.1f}",
                f"{r.ms_per_sample:.1f}",
                f"{r.main_cpu_ms_per_sample:.1f}",
                f"{r.first_batch_s:.2f}",
            ]
            for r in self.rows
        ]
        return header, rows


TABLE_CAPTION = (
    "samples/s of the second epoch (persistent workers); per worker: samples/s per loading process (0: the main "
    "process); ms/sample: wall ms per sample; main CPU ms: the main process's CPU ms per sample (0 workers: the "
    "whole loading cost); start s: wait for the first batch of the first epoch (workers starting)"
)


def _loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:  # not available on this platform
        return None


def parse_workers(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]."""
    try:
        out = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"Bad --workers '{text}'; expected counts separated by commas, e.g. 0,1,2.") from None
    if not out or min(out) < 0:
        raise UsageError(f"Bad --workers '{text}'; expected counts >= 0 separated by commas, e.g. 0,1,2.")
    return out


def _epoch(loader: Any) -> tuple[int, float, float, float]:
    """(samples, seconds, seconds to the first batch, CPU seconds of this process) of one pass over ``loader``."""
    t0, c0 = time.perf_counter(), time.process_time()
    first, n = None, 0
    for batch in loader:
        if first is None:
            first = time.perf_counter() - t0
        n += int(batch["image"].shape[0])
    return n, time.perf_counter() - t0, first or 0.0, time.process_time() - c0


def _files(ds: Any, name: str) -> list[Path]:
    """The files of sample ``name`` that the dataset reads (its ``paths`` or ``path`` method), else none."""
    if hasattr(ds, "paths"):
        return list(ds.paths(name).values())
    if hasattr(ds, "path"):
        return [ds.path(t, name) for t in ["image", *ds.tasks]]
    return []


def _folder(ds: Any, path: Path) -> str:
    """``path``'s folder relative to the dataset's root (e.g. semseg/pascal-context), else its name."""
    try:
        return str(path.parent.relative_to(ds.root))
    except (AttributeError, TypeError, ValueError):
        return path.parent.name


def _read_raw(path: Path) -> None:
    from mtbench.data.common import read_image, read_mat, read_npy, read_png_array

    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        read_image(path)
    elif ext == ".png":
        read_png_array(path)
    elif ext == ".npy":
        read_npy(path)
    elif ext == ".mat":
        read_mat(path)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def time_stages(data: Any, n: int, batch: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) ms per sample of each loading stage in this process, over the first ``n`` samples of ``data``
    (a ``SeededDataset`` over a ``MultiTaskDataset``, as the trainer's; epoch 0): the raw files by type, the
    dataset's read (files, checks, derived targets) or load (scenes generated on the fly), the conversion to
    tensors, the augmentation, the normalisation and the collate of batches of ``batch``."""
    from mtbench.data.common import normalize_image, to_tensors

    ds: Any = data.dataset if isinstance(data, SeededDataset) else data
    if not all(hasattr(ds, a) for a in ("load", "transform", "names")):
        return {}
    names = ds.names()
    totals: dict[str, tuple[float, float]] = {}

    def add(key: str, start: tuple[float, float]) -> None:
        now, old = _clock(), totals.get(key, (0.0, 0.0))
        totals[key] = (old[0] + now[0] - start[0], old[1] + now[1] - start[1])

    samples: list[dict[str, Any]] = []
    n = min(n, len(names))
    for i in range(n):
        for p in _files(ds, names[i]):
            t0 = _clock()
            _read_raw(p)
            add(f"file {p.suffix.lower().lstrip('.')} ({_folder(ds, p)})", t0)
        t0 = _clock()
        sample: dict[str, Any]
        if hasattr(ds, "read"):
            arrays = ds.read(names[i])
            add("read: files + checks + derived targets", t0)
            t0 = _clock()
            sample = to_tensors(arrays)
            add("to tensors", t0)
        else:
            sample = ds.load(i)
            add("load (generate + to tensors)", t0)
        if ds.transform is not None:
            g = torch.Generator().manual_seed(i)
            t0 = _clock()
            sample = ds.transform(sample, g)
            add("augmentation" if getattr(data, "dataset", None) is ds else "transform", t0)
        t0 = _clock()
        sample = normalize_image(sample)
        add("normalise", t0)
        sample["meta"] = {"name": names[i], "size": list(sample["image"].shape[-2:])}
        samples.append(sample)
    t0 = _clock()
    for k in range(0, len(samples) - batch + 1, batch):
        default_collate(samples[k : k + batch])
    add("collate", t0)
    return {k: (1000.0 * w / max(1, n), 1000.0 * c / max(1, n)) for k, (w, c) in totals.items()}


def bench_data(
    dataset: str,
    root: str | None,
    *,
    split: str = "train",
    workers: Sequence[int] = (0, 1, 2),
    batch: int = 8,
    n: int = 64,
    train_size: tuple[int, int] | None = None,
    tasks: list[str] | None = None,
    seed: int = 0,
    config: str | None = None,
    stages: bool = True,
    device: str = "cpu",
    progress: Any = None,
) -> DataBench:
    """Time the loader of ``dataset`` (folder ``root``; None: generated, if it can be) with each of ``workers``;
    ``tasks``: None = every task the dataset provides (the most files per sample); ``config``: the recipe whose
    data settings (input size, dataset options) apply, default the dataset's own recipe when it has one (NYUD
    480×640, PASCAL-Context 512×512, synthetic 96×128), else the dataset's ``train_size``. ``progress(text)`` is
    told what runs."""
    from mtbench.config import build_config, list_configs, load_raw
    from mtbench.data.spec import get_dataset_spec
    from mtbench.engine.run import build_data, resolve_experiment
    from mtbench.engine.runtime import set_cpu_threads

    spec = get_dataset_spec(dataset)
    tasks = list(spec.tasks) if tasks is None else tasks
    if n < batch:
        raise UsageError(f"--n {n} is smaller than --batch {batch}: no batch would be complete.")
    sets = {
        "data.dataset": dataset,
        "data.root": root,
        "data.tasks": tasks,
        "data.aux_tasks": [],
        "data.train_size": list(train_size) if train_size else None,
        "data.n_train": n,
        "data.n_val": n,
        "data.seed": seed,
        "run.seed": seed,
        "train.batch_size": batch,
        "eval.batch_size": batch,
    }
    if config is None:  # the dataset's own recipe (its input size, dataset options), if it has exactly one
        own = [c for c in list_configs() if (load_raw(c).get("data") or {}).get("dataset", "synthetic") == dataset]
        config = own[0] if len(own) == 1 else None
        if config is None and not train_size:
            sets["data.train_size"] = list(spec.train_size)
    cfg = build_config(config, None, **sets)
    exp = resolve_experiment(cfg)
    set_cpu_threads()  # the main process's threads, as a run sets them
    data = build_data(cfg, exp, split)
    if split == "train":
        data = SeededDataset(data, seed)
    count = len(data)
    if count < batch:
        raise UsageError(f"{dataset} {split} has {count} samples, fewer than --batch {batch}.")
    generated = generated_on_the_fly(spec, root)
    result = DataBench(
        dataset=dataset,
        root=root,
        split=split,
        config=config or "none",
        tasks=tasks,
        size=exp.train_size if split == "train" else exp.eval_size,
        batch=batch,
        n=min(n, count) // batch * batch,
        cpus=available_cpus(),
        cpu_count=os.cpu_count() or 1,
        torch_threads=torch.get_num_threads(),
        loadavg_before=_loadavg(),
        auto={d: resolve_workers("auto", device=d, generated=generated) for d in ("cpu", "cuda")},
    )
    for w in workers:
        if progress:
            progress(f"workers {w}")
        if split == "train":
            sampler = ResumableSampler(count, seed=seed, shuffle=True)
            loader = train_loader(data, EpochSampler(sampler), batch, w, device, seed=seed)
        else:
            loader = eval_loader(data, batch, w, device)
        sampler_epochs = []
        for epoch in range(2):  # 0: workers start, files cached; 1: timed
            if split == "train":
                data.set_epoch(epoch)
                sampler.set_epoch(epoch)
            sampler_epochs.append(_epoch(loader))
        (_, _, first, _), (samples, seconds, _, cpu) = sampler_epochs
        result.rows.append(BenchRow(w, samples, seconds, first, cpu))
        del loader  # its workers end
    if stages:
        if progress:
            progress("stages (main process)")
        result.stages = time_stages(data, result.n, batch)
    result.loadavg_after = _loadavg()
    return result
