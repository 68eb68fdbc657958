"""DataLoaders as the trainer builds them: how many worker processes (``data.workers``, "auto"), pinned
memory on CUDA, persistent workers, and a generator of the loader's own.

``data.workers: auto`` (the default) resolves to (``resolve_workers``):

* on CUDA: min(``CUDA_MAX_WORKERS``, the CPUs this process may use), the CPUs shared among the processes of
  the node (torchrun's LOCAL_WORLD_SIZE), at least 1: the GPU waits on the CPU otherwise (README "Data loading
  throughput": a NYUD sample at 480×640 costs about 68 CPU ms to read and augment, i.e. about 15 samples/s per
  free core, against an estimated 100-250 samples/s that a GPU trains MTI-Net HRNet-18 at);
* on CPU: 0 for a dataset generated on the fly (the embedded synthetic scenes: rendering in the main process is
  what the default ``mtbench run`` measures, and a worker would only compete with training's threads), and
  ``CPU_FILE_WORKERS`` (1, if the process may use 2 CPUs or more) for a dataset read from files: training on
  CPU costs about 2.9 CPU s per NYUD sample (MTI-Net HRNet-18, 480×640), loading about 0.07, so one worker
  (15 samples/s against training's fraction of one) hides the reading entirely; more only compete with the
  training's threads for the same cores and hold memory.

Workers persist across epochs (``persistent_workers``; started once per loader) and each worker keeps
``PREFETCH_FACTOR`` batches in flight. The loader draws its base seed from a generator of its own, never from
torch's global RNG, so training's RNG stream does not depend on the number of workers, on whether they
persist, or on where a run was resumed; a sample's augmentation depends only on (seed, epoch, index) anyway
(``SeededDataset``; the epoch travels with each index, ``EpochSampler``, so persistent workers see it).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

log = logging.getLogger(__name__)
AUTO = "auto"
CUDA_MAX_WORKERS = 8
CPU_FILE_WORKERS = 1
# batches each worker keeps in flight (torch's default): 2 × workers batches queued ahead of the step, enough
# to absorb slow samples; more would only hold more shared memory (about 75 MB per NYUD batch of 8 at 480×640)
PREFETCH_FACTOR = 2


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: taskset, cgroup cpusets, Slurm), else the CPU count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def local_world_size(world_size: int = 1) -> int:
    """Processes of this node sharing its CPUs (torchrun sets LOCAL_WORLD_SIZE)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size))))
    except ValueError:
        return max(1, world_size)


def resolve_workers(
    setting: int | str, *, device: torch.device | str, generated: bool, cpus: int | None = None, world_size: int = 1
) -> int:
    """The number of DataLoader workers for ``data.workers`` = ``setting`` (a number is kept; "auto": see the
    module docstring). ``generated``: the dataset is made on the fly (no files to read); ``cpus``: the CPUs
    of this process (default ``available_cpus()``), shared among ``world_size`` local processes."""
    if setting != AUTO:
        return int(setting)
    n = max(1, (available_cpus() if cpus is None else cpus) // local_world_size(world_size))
    if torch.device(device).type != "cpu":
        return min(CUDA_MAX_WORKERS, n)
    if generated:
        return 0
    return min(CPU_FILE_WORKERS, n - 1)


def generated_on_the_fly(spec: Any, root: str | None) -> bool:
    """Whether ``build_dataset`` makes the dataset without files: an embedded dataset given no root folder."""
    return bool(getattr(spec, "embedded", False)) and root is None


def loader_options(workers: int, device: torch.device | str, seed: int = 0) -> dict[str, Any]:
    """The DataLoader keywords of a run's loaders: ``workers`` processes, persistent with ``PREFETCH_FACTOR``
    batches each when there are any, pinned memory on CUDA, and a generator of their own seeded with ``seed``
    (the workers' base seed; it never touches torch's global RNG)."""
    opts: dict[str, Any] = {
        "num_workers": workers,
        "pin_memory": torch.device(device).type == "cuda",
        "generator": torch.Generator().manual_seed(int(seed)),
    }
    if workers > 0:
        opts.update(persistent_workers=True, prefetch_factor=PREFETCH_FACTOR)
    return opts


def train_loader(
    dataset: Dataset, sampler: Sampler, batch_size: int, workers: int, device: torch.device | str, seed: int = 0
) -> DataLoader:
    """The training loader: ``batch_size`` samples in ``sampler``'s order (an ``EpochSampler``: (epoch, index)
    keys), the last incomplete batch dropped, the default collate."""
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, drop_last=True, **loader_options(workers, device, seed)
    )


def eval_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int,
    device: torch.device | str,
    sampler: Sampler | None = None,
) -> DataLoader:
    """An evaluation loader: in order (or ``sampler``'s), every sample kept."""
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **loader_options(workers, device))
