"""Progress display (rich) and the per-epoch CSV log."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from mtbench.reporting.results import atomic_write_text

if TYPE_CHECKING:
    from rich.progress import Progress


class EpochBar:
    """A rich progress bar for one epoch showing per-task losses and images/s; silent when quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._progress: Progress | None = None

    def start(self, epoch: int, epochs: int, total: int, done: int = 0) -> None:
        if self.quiet:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            transient=False,
        )
        self._progress = progress
        progress.start()
        self._task = progress.add_task("", total=total, completed=done)

    def update(self, losses: dict[str, float], img_s: float) -> None:
        if self._progress is None:
            return
        desc = " ".join(f"{k}={v:.3f}" for k, v in losses.items()) + f" | {img_s:.1f} img/s"
        self._progress.update(self._task, advance=1, description=desc)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def write_csv_log(path: Path, rows: list[dict[str, float | int | str]]) -> None:
    """Rewrite the whole epoch log atomically (the rows live in the checkpoint, so it never disagrees)."""
    if not rows:
        return
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
