"""TensorBoard logging of a run (``--set run.tensorboard=true``, the optional ``tensorboard`` extra).

Event files go to ``<run folder>/tensorboard/``, written by rank 0 only. Tags (x: the training iteration):

- ``train/loss``, ``train/loss/<task>`` (each task's loss, auxiliary tasks included), ``train/lr`` (the first
  parameter group's learning rate the iteration trained with): every iteration;
- ``val/<task>/<metric>``: every learning-curve point (``eval.every_iters``, on the curve's
  ``eval.curve_images`` images: the values of ``curve.csv``);
- ``val_epoch/<task>/<metric>``: the whole-split evaluations at epoch ends (``eval.every``);
- ``final/<task>/<metric>``: the final evaluation (the record's metrics, of the reported checkpoint);
- ``images/<index>`` at each of those evaluations during training, ``final/images/<index>`` at the final one:
  the first ``N_IMAGES`` images of the evaluation split, one row per main task (the image, its ground truth,
  the prediction), coloured as ``mtbench show`` colours them.

Metrics are each task's summary metrics (no per-class values). The package is imported only when the setting
is on; without it such a run stops at its start with one line saying how to install it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mtbench.errors import UsageError

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

TB_DIR = "tensorboard"
N_IMAGES = 4
INSTALL = "pip install 'mtbench[tensorboard]'"


def require_tensorboard() -> None:
    """Fail with one line when the tensorboard package (or torch's writer for it) cannot be imported."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise UsageError(
            f"--set run.tensorboard=true needs the tensorboard package, which is not installed: {INSTALL}"
        ) from None


class Board:
    """A run's TensorBoard writer; without one (the setting off, or a rank other than 0) every call does nothing."""

    def __init__(self, writer: SummaryWriter | None = None) -> None:
        self._writer = writer

    @classmethod
    def open(cls, run_dir: Path, purge_step: int | None = None) -> Board:
        """A writer of a new event file in ``run_dir/tensorboard``. ``purge_step`` (a resumed run): events of
        earlier files at that step or later are discarded by TensorBoard, as the resumed run writes them again."""
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        return cls(SummaryWriter(log_dir=str(Path(run_dir) / TB_DIR), purge_step=purge_step, flush_secs=30))

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def train(self, step: int, losses: dict[str, float], lr: float) -> None:
        """One iteration's losses (``total`` and per task, as ``Trainer._step`` returns them) and learning rate."""
        if self._writer is None:
            return
        for k, v in losses.items():
            self._writer.add_scalar("train/loss" if k == "total" else f"train/loss/{k}", v, step)
        self._writer.add_scalar("train/lr", lr, step)

    def metrics(self, prefix: str, step: int, metrics: dict[str, dict[str, float]]) -> None:
        """``{task: {metric: value}}`` as ``<prefix>/<task>/<metric>``."""
        if self._writer is None:
            return
        for t, d in metrics.items():
            for k, v in d.items():
                self._writer.add_scalar(f"{prefix}/{t}/{k}", float(v), step)

    def images(self, prefix: str, step: int, images: dict[str, np.ndarray]) -> None:
        """``{name: H×W×3 uint8}`` as ``<prefix>/<name>``."""
        if self._writer is None:
            return
        for name, img in images.items():
            self._writer.add_image(f"{prefix}/{name}", img, step, dataformats="HWC")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def prediction_images(
    model: torch.nn.Module,
    samples: list[tuple[int, dict[str, Any]]],
    tasks: list[str],
    num_classes: dict[str, int],
    device: torch.device,
    amp: str = "none",
    channels_last: bool = False,
) -> dict[str, np.ndarray]:
    """``{str(index): H×W×3 uint8}`` for each (dataset index, sample): one row per task of the image, the
    ground truth and ``model``'s prediction at the image's original size (post-processed as the evaluation
    does, coloured as ``mtbench show``; depth over [0, the largest ground-truth depth of all the samples]).
    The model is run in eval mode and left in the mode it was in."""
    from mtbench.analysis.show import image_rgb, predict_sample, sample_target
    from mtbench.reporting.show import depth_valid, panel_rgb

    was_training = model.training
    model.eval()
    try:
        predicted = [predict_sample(model, tasks, s, device, amp, channels_last) for _, s in samples]
    finally:
        model.train(was_training)
    targets = [
        {t: sample_target(s, t, size)[0].numpy() for t in tasks} for (_, s), (_, size) in zip(samples, predicted)
    ]
    depth_max = 1.0
    if "depth" in tasks:
        valid = [d[depth_valid(d)] for d in (tg["depth"] for tg in targets)]
        depth_max = max([float(v.max()) for v in valid if v.size] or [1.0])
    out = {}
    for (index, sample), (preds, size), target in zip(samples, predicted, targets):
        image = image_rgb(sample, size)
        rows = []
        for t in tasks:
            n = num_classes.get(t, 256)
            gt = panel_rgb(t, target[t], target[t], gt=True, num_classes=n, depth_max=depth_max)
            pred = panel_rgb(t, preds[t][0].numpy(), target[t], gt=False, num_classes=n, depth_max=depth_max)
            rows.append(np.concatenate([image, gt, pred], axis=1))
        out[str(index)] = (np.clip(np.concatenate(rows, axis=0), 0.0, 1.0) * 255).round().astype(np.uint8)
    return out
