"""Process-level set-up: devices, seeding, threads, torch.distributed, environment facts."""

from __future__ import annotations

import os
import platform
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mtbench.errors import UsageError


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (all devices); optionally ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without CUDA is a one-line error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {name}: CUDA is not available on this machine (torch {torch.__version__}); use --device cpu"
            )
        if name == "cuda":
            return torch.device("cuda", local_rank)
        return torch.device(name)
    if name != "cpu":
        raise UsageError(f"--device {name}: expected cpu, cuda, cuda:N or auto")
    return torch.device("cpu")


DISTRIBUTED_ENV = "MTBENCH_DISTRIBUTED"
"""Set to 1 (with torchrun), a world of one process is distributed too: the process group is initialised and
the model wrapped in DDP, so that ``torchrun --nproc_per_node 1`` checks the NCCL path on one GPU
(scripts/gpu_check.py). Unset, one process trains without torch.distributed, as before."""


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised: bool = False  # torch.distributed's process group is up (also for a world of one process)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.initialised or self.world_size > 1


def init_distributed(device_kind: str) -> DistInfo:
    """Initialise torch.distributed when launched by torchrun with WORLD_SIZE > 1 (or with one process when
    ``MTBENCH_DISTRIBUTED=1``): nccl on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    forced = os.environ.get(DISTRIBUTED_ENV) == "1" and "RANK" in os.environ
    if world <= 1 and not forced:
        return DistInfo()
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local, initialised=True)


def set_cpu_threads(world_size: int = 1) -> int:
    """Share the CPU cores among the processes of this node (torchrun sets LOCAL_WORLD_SIZE)."""
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    n = max(1, (os.cpu_count() or 1) // max(1, local_world))
    torch.set_num_threads(n)
    return n


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def environment(device: torch.device) -> dict[str, str | None]:
    """Versions and hardware for the record's ``env``."""
    from mtbench import __version__

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": gpu,
        "cpu": _cpu_name(),
        "python": platform.python_version(),
        "mtbench": __version__,
        "git_commit": _git_commit(),
        "threads": str(torch.get_num_threads()),
    }
