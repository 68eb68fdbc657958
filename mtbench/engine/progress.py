"""Progress display (a rich bar on a terminal, plain lines otherwise), the per-epoch CSV log and the learning
curve's CSV and lines."""

from __future__ import annotations

import csv
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

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

    def note(self, line: str) -> None:
        """Print one line (e.g. a learning-curve point) above the bar, or as a plain line; nothing when quiet."""
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.print(line, highlight=False, markup=False, soft_wrap=True)
        else:
            print(line, file=self._stream or sys.stdout, flush=True)

    def exclude(self, seconds: float) -> None:
        """Leave ``seconds`` (an evaluation in the middle of the epoch) out of the plain lines' elapsed and ETA."""
        if self._plain is not None:
            self._plain.t0 += seconds

    def stop(self) -> None:
        self._plain = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def write_csv_log(path: Path, rows: list[dict[str, float | int | str]], order: list[str] | None = None) -> None:
    """Rewrite the whole epoch log atomically (the rows live in the checkpoint, so it never disagrees). Columns:
    in order of first appearance, those starting with a prefix in ``order`` grouped in that order, last."""
    if not rows:
        return
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    if order:
        rank = {k: next((i for i, p in enumerate(order) if k.startswith(p)), -1) for k in keys}
        keys.sort(key=lambda k: rank[k])  # stable: first appearance within a group
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def curve_rows(points: list[dict[str, Any]]) -> list[dict[str, float | int | str]]:
    """Learning-curve points (TrainState.curve) as flat CSV rows: iteration, epoch, images, seconds (training,
    evaluations excluded), eval_seconds, eval_images, ``loss_<name>`` (means since the previous point) and
    ``val_<task>_<metric>``."""
    rows = []
    for p in points:
        row: dict[str, float | int | str] = {k: v for k, v in p.items() if k not in ("losses", "metrics")}
        row.update({f"loss_{k}": v for k, v in p.get("losses", {}).items()})
        row.update({f"val_{t}_{k}": v for t, d in p.get("metrics", {}).items() for k, v in d.items()})
        rows.append(row)
    return rows


def write_curve_csv(path: Path, points: list[dict[str, Any]]) -> None:
    """Rewrite the run's curve.csv atomically from all its points (they live in the checkpoint as well)."""
    write_csv_log(path, curve_rows(points), order=["loss_", "val_"])


def curve_line(point: dict[str, Any], final_iter: int, primary: dict[str, str]) -> str:
    """One plain line for a learning-curve point: iteration, primary metrics, mean loss, seconds."""
    metrics = " ".join(
        f"{t} {m}={point['metrics'][t][m]:.4g}" for t, m in primary.items() if m in point["metrics"].get(t, {})
    )
    loss = point["losses"].get("total")
    return (
        f"curve iter {point['iteration']}/{final_iter} (epoch {point['epoch']:.2f}): {metrics}"
        + (f" | loss {loss:.4g}" if loss is not None else "")
        + f" | train {point['seconds']:.0f}s, eval {point['eval_seconds']:.1f}s on {point['eval_images']} images"
    )
