"""Δm, the multi-task gain of Vandenhende et al., computed from result records.

Convention: percent, higher is better. Δm = (100/T) Σ_t (−1)^{l_t} (M_t − S_t) / S_t over the main
tasks t that enter Δm (``task.in_delta_m``; auxiliary tasks never count), l_t = 1 when the task's
primary metric is lower-is-better (``MetricSpec.higher_is_better``), M_t the record's primary metric,
S_t the mean over seeds of the single-task baseline records' primary metric.

Baselines of a record are records with ``model == "single_task"``, the same ``source`` (measured rows
are compared with measured baselines, reported rows with reported ones; a reported row never serves
as a measured row's baseline), status complete, the same dataset, split, backbone and
``cost.input_size``, no auxiliary tasks, and ``t`` among their tasks (normally ``tasks == [t]``; a
single_task record bundling one network per task also qualifies).

Special rows: single_task records have Δm 0.00 by definition; a reported record that carries its
published ``delta_m.value`` keeps it; a record with a missing baseline gets
``n/a (no single-task baseline for depth)``; a constant-predictor floor record (``RunRecord.is_floor``) has
none and is never a baseline. Several seeds: Δm per seed, then mean ± sample std.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mtbench.errors import MtbenchError, RecordError
from mtbench.reporting.results import DeltaM, RunRecord, load_records, write_record

log = logging.getLogger(__name__)

SINGLE_TASK = "single_task"


@dataclass
class DeltaMResult:
    """Δm of one record or of a group of seeds. ``value`` None means n/a, with ``reason`` saying why."""

    value: float | None
    std: float | None = None
    per_record: dict[str, float | None] = field(default_factory=dict)
    baselines: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reason: str = ""
    kind: str = "computed"  # computed | baseline (single_task, 0 by definition) | published

    def display(self, digits: int = 2) -> str:
        """``+6.40``, ``+6.40 ± 0.31`` or ``n/a (...)``."""
        if self.value is None:
            return self.reason or "n/a"
        s = f"{self.value:+.{digits}f}"
        if self.std is not None:
            s += f" ± {self.std:.{digits}f}"
        return s


def _task(record: RunRecord, name: str):
    from mtbench.registry import get_task

    try:
        return get_task(name)
    except MtbenchError as e:
        raise RecordError(f"{record.where}: {e}") from e


def _finite(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def primary_metric(record: RunRecord, task: str) -> float | None:
    """The record's primary metric for ``task``: ``primary[task]``, else ``metrics[task][<primary name>]``."""
    if record.primary.get(task) is not None:
        return _finite(record.primary[task])
    return _finite(record.metrics.get(task, {}).get(_task(record, task).primary))


def delta_m(values: dict[str, float], baselines: dict[str, float], higher_is_better: dict[str, bool]) -> float:
    """Convention: percent, higher is better. (100/T) Σ_t ±(M_t − S_t)/S_t, minus sign where lower is better."""
    if not values:
        raise ValueError("Δm needs at least one task")
    total = 0.0
    for t, m in values.items():
        s = baselines[t]
        sign = 1.0 if higher_is_better[t] else -1.0
        total += sign * (m - s) / s
    return 100.0 * total / len(values)


def is_baseline_for(candidate: RunRecord, record: RunRecord, task: str) -> bool:
    """True if ``candidate`` is a single-task baseline of ``record`` for ``task`` (module docstring)."""
    return (
        candidate.model == SINGLE_TASK
        and candidate.status == "complete"
        and candidate.source == record.source
        and candidate.dataset == record.dataset
        and candidate.split == record.split
        and candidate.backbone == record.backbone
        and candidate.cost.input_size == record.cost.input_size
        and not candidate.aux_tasks
        and task in candidate.tasks
    )


def record_delta_m(record: RunRecord, records: Sequence[RunRecord]) -> DeltaMResult:
    """Δm of one record against the single-task baselines found in ``records``."""
    if record.is_floor:
        return DeltaMResult(None, reason="n/a (constant-predictor floor)")
    if record.model == SINGLE_TASK:
        return DeltaMResult(
            0.0, per_record={record.id: 0.0}, kind="baseline", notes=["single-task baseline: Δm 0 by definition"]
        )
    if record.source == "reported" and record.delta_m is not None and record.delta_m.value is not None:
        v = record.delta_m.value
        return DeltaMResult(
            v,
            per_record={record.id: v},
            baselines=dict(record.delta_m.baselines),
            kind="published",
            notes=["published Δm"],
        )
    if record.status != "complete":
        return DeltaMResult(None, reason=f"n/a (run {record.status})")
    values: dict[str, float] = {}
    base_values: dict[str, float] = {}
    hib: dict[str, bool] = {}
    ids: dict[str, list[str]] = {}
    notes: list[str] = []
    missing: list[str] = []
    no_metric: list[str] = []
    for t in record.tasks:
        task = _task(record, t)
        if not task.in_delta_m:
            notes.append(f"{t} excluded from Δm: {task.note}" if task.note else f"{t} excluded from Δm")
            continue
        m = primary_metric(record, t)
        if m is None:
            no_metric.append(f"{t} {task.primary}")
            continue
        candidates = [(b, primary_metric(b, t)) for b in records if is_baseline_for(b, record, t)]
        found = [(b, v) for b, v in candidates if v is not None]
        if not found:
            missing.append(t)
            continue
        s = statistics.fmean(v for _, v in found)
        if s == 0:
            return DeltaMResult(None, reason=f"n/a (single-task baseline {task.primary} of {t} is 0)", notes=notes)
        values[t], base_values[t], hib[t] = m, s, task.primary_spec.higher_is_better
        ids[t] = sorted(b.id for b, _ in found)
    if no_metric:
        return DeltaMResult(None, reason=f"n/a (no {', '.join(no_metric)} in record)", notes=notes, baselines=ids)
    if missing:
        return DeltaMResult(
            None, reason=f"n/a (no single-task baseline for {', '.join(missing)})", notes=notes, baselines=ids
        )
    if not values:
        return DeltaMResult(None, reason="n/a (no task enters Δm)", notes=notes)
    v = delta_m(values, base_values, hib)
    return DeltaMResult(v, per_record={record.id: v}, baselines=ids, notes=notes)


def group_delta_m(group: Sequence[RunRecord], records: Sequence[RunRecord]) -> DeltaMResult:
    """Δm of several runs of one configuration (seeds): Δm per run, then mean ± sample std (ddof=1).
    n/a if any run's Δm is n/a."""
    if not group:
        raise ValueError("group_delta_m needs at least one record")
    results = [record_delta_m(r, records) for r in group]
    notes = list(dict.fromkeys(n for res in results for n in res.notes))
    baselines: dict[str, list[str]] = {}
    for res in results:
        for t, ids in res.baselines.items():
            baselines[t] = sorted(set(baselines.get(t, [])) | set(ids))
    for res in results:
        if res.value is None:
            return DeltaMResult(None, reason=res.reason, notes=notes, baselines=baselines)
    vals = [res.value for res in results if res.value is not None]  # all of them (checked just above)
    std = statistics.stdev(vals) if len(vals) > 1 and results[0].kind != "baseline" else None
    per = {r.id: res.value for r, res in zip(group, results)}
    return DeltaMResult(statistics.fmean(vals), std, per, baselines, notes, kind=results[0].kind)


def annotate_delta_m(records: Iterable[RunRecord]) -> list[RunRecord]:
    """Copies of ``records`` whose ``delta_m`` holds this record's Δm and the baseline ids used
    (measured records are always recomputed; a reported record's published value is kept)."""
    records = list(records)
    out = []
    for r in records:
        res = record_delta_m(r, records)
        note = "; ".join(([res.reason] if res.reason else []) + res.notes)
        out.append(r.model_copy(update={"delta_m": DeltaM(value=res.value, baselines=res.baselines, note=note)}))
    return out


def write_delta_m(root: Path | str) -> list[Path]:
    """Recompute Δm of every measured record under ``root`` and rewrite (atomically) those whose Δm
    changed; reported records are left as published, floor records untouched. Returns the paths written."""
    records = load_records(root)
    written = []
    for old, new in zip(records, annotate_delta_m(records)):
        if old.source == "measured" and not old.is_floor and old.delta_m != new.delta_m and old.path is not None:
            written.append(write_record(new, old.path))
            log.info("Δm of %s: %s", old.path, new.delta_m.value if new.delta_m else None)
    return written
