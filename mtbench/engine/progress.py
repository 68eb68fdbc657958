"""Progress display (a rich bar on a terminal, plain lines otherwise) and the per-epoch CSV log."""

from __future__ import annotations

import csv
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mtbench.reporting.results import atomic_write_text

if TYPE_CHECKING:
    from rich.progress import Progress


LINES_PER_EPOCH = 20  # plain progress lines per epoch when the output is not a terminal


@dataclass
class _PlainEpoch:
    """The epoch a plain-line progress is counting: its label, iterations done of ``total`` (``start`` done
    before this process resumed it), a line every ``every`` iterations, start time ``t0``."""

    label: str
    total: int
    done: int
    every: int
    t0: float = field(default_factory=time.perf_counter)
    start: int = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.done


class EpochBar:
    """Progress of one epoch with per-task losses and images/s; silent when quiet. On a terminal a rich
    bar; otherwise (output redirected to a log) a plain line on ``stream`` (default stdout, where the bar
    and the run summary go) every 1/``LINES_PER_EPOCH`` of the epoch and at its last iteration, so a long
    run shows its progress."""

    def __init__(self, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self._progress: Progress | None = None
        self._stream = stream
        self._plain: _PlainEpoch | None = None

    def _terminal(self) -> bool:
        if self._stream is not None:
            return False
        from rich import get_console

        return get_console().is_terminal

    def start(self, epoch: int, epochs: int, total: int, done: int = 0) -> None:
        if self.quiet:
            return
        if not self._terminal():
            self._plain = _PlainEpoch(f"epoch {epoch + 1}/{epochs}", total, done, max(1, total // LINES_PER_EPOCH))
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
        if self._plain is not None:
            self._line(losses, img_s)
        if self._progress is None:
            return
        desc = " ".join(f"{k}={v:.3f}" for k, v in losses.items()) + f" | {img_s:.1f} img/s"
        self._progress.update(self._task, advance=1, description=desc)

    def _line(self, losses: dict[str, float], img_s: float) -> None:
        p = self._plain
        assert p is not None
        p.done += 1
        done, total = p.done, p.total
        if done % p.every and done != total:
            return
        elapsed = time.perf_counter() - p.t0
        eta = elapsed / (done - p.start) * (total - done)
        loss = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
        stream = self._stream or sys.stdout
        print(
            f"{p.label} iter {done}/{total} ({100 * done / total:.0f}%) "
            f"{loss} | {img_s:.1f} img/s | elapsed {elapsed:.0f}s, eta {eta:.0f}s",
            file=stream,
            flush=True,
        )

    def stop(self) -> None:
        self._plain = None
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
