"""Δm, the multi-task gain of Vandenhende et al., computed from result records.

Convention: percent, higher is better. Δm = (100/T) Σ_t (−1)^{l_t} (M_t − S_t) / S_t over the main
tasks t that enter Δm (``task.in_delta_m``; auxiliary tasks never count), l_t = 1 when the task's
primary metric is lower-is-better (``MetricSpec.higher_is_better``), M_t the record's primary metric,
S_t the single-task baseline's primary metric.

Pairing (common random numbers): runs of one seed share the data stream and, where the models share a
backbone, its initialisation (mtbench.engine). A record with a seed is compared with the baseline records of
the same seed where every task that enters Δm has one (``paired``; repeated baselines of that seed averaged);
otherwise with the mean over seeds of the baselines (each seed's repeats averaged first), and the result says
``unpaired``. Where the record and its paired baselines carry bootstrap replicates on the same validation
images (``RunRecord.bootstrap``), Δm is also computed replicate by replicate (a paired bootstrap over images).

Baselines of a record are records with ``model == "single_task"``, the same ``source`` (measured rows
are compared with measured baselines, reported rows with reported ones; a reported row never serves
as a measured row's baseline), status complete, the same dataset, split, backbone and
``cost.input_size``, no auxiliary tasks, ``t`` among their tasks (normally ``tasks == [t]``; a
single_task record bundling one network per task also qualifies), and, where both records store their
config, the same data (the ``data`` section but tasks, e.g. the number of training scenes) and evaluation
(``eval.split`` and ``eval.options``): a baseline trained on another budget is another benchmark's.

Special rows: single_task records have Δm 0.00 by definition; a reported record that carries its
published ``delta_m.value`` keeps it; a record with a missing baseline gets
``n/a (no single-task baseline for depth)``; a constant-predictor floor record (``RunRecord.is_floor``) has
none and is never a baseline. Several seeds: Δm per seed (repeated runs of one seed averaged into one
value), then mean, sample std and the 95 % interval of :mod:`mtbench.reporting.stats`.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from mtbench.config import experiment_fields
from mtbench.errors import MtbenchError, RecordError
from mtbench.reporting.results import DeltaM, RunRecord, load_records, write_record
from mtbench.reporting.stats import Interval, Sample

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
    paired: bool | None = None  # against same-seed baselines (None: not computed, or a group mixing both)
    replicates: np.ndarray | None = None  # paired bootstrap replicates over validation images (one record)
    sample: Sample | None = None  # per-seed values (a group)
    interval: Interval | None = None  # 95 % interval (a group: t over seeds, or bootstrap for one seed)

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


def data_protocol(record: RunRecord) -> tuple[dict, dict] | None:
    """What a baseline must share with a record beyond dataset and split: its ``data`` config but the tasks (and
    the fields that do not change results), and ``eval.split``/``eval.options``; None without a stored config."""
    if not isinstance(record.config, dict) or not record.config:
        return None
    cfg = experiment_fields(record.config, [("data", "tasks"), ("data", "aux_tasks")])
    data, ev = cfg.get("data"), cfg.get("eval")
    if not isinstance(data, dict):
        return None
    ev = ev if isinstance(ev, dict) else {}
    return (
        data,
        {"split": ev.get("split"), "options": ev.get("options") or {}},
    )


def is_baseline_for(candidate: RunRecord, record: RunRecord, task: str) -> bool:
    """True if ``candidate`` is a single-task baseline of ``record`` for ``task`` (module docstring)."""
    mine, theirs = data_protocol(record), data_protocol(candidate)
    return (
        (mine is None or theirs is None or mine == theirs)
        and candidate.model == SINGLE_TASK
        and candidate.status == "complete"
        and candidate.source == record.source
        and candidate.dataset == record.dataset
        and candidate.split == record.split
        and candidate.backbone == record.backbone
        and candidate.cost.input_size == record.cost.input_size
        and not candidate.aux_tasks
        and task in candidate.tasks
    )


def bootstrap_replicates(record: RunRecord, task: str) -> tuple[tuple, np.ndarray] | None:
    """The record's bootstrap replicates of ``task``'s primary metric and what makes them comparable with
    another record's (the resampled images: their count and the resampling seed), or None."""
    boot = getattr(record, "bootstrap", None) or {}
    b = boot.get(task)
    if b is None or not b.replicates:
        return None
    return (b.n_images, b.seed, len(b.replicates)), np.asarray(b.replicates, dtype=float)


def _seed_mean(found: Sequence[tuple[RunRecord, float]]) -> float:
    """Mean over seeds of the baselines' values, each seed's repeated runs averaged first."""
    by_seed: dict[object, list[float]] = {}
    for b, v in found:
        by_seed.setdefault(b.seed if b.seed is not None else b.id, []).append(v)
    return statistics.fmean(statistics.fmean(v) for v in by_seed.values())


def record_delta_m(record: RunRecord, records: Sequence[RunRecord], pairing: bool = True) -> DeltaMResult:
    """Δm of one record against the single-task baselines found in ``records``: paired (same-seed baselines)
    when ``pairing`` and every task has one, else against the baselines' seed mean (module docstring)."""
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
    hib: dict[str, bool] = {}
    found_by_task: dict[str, list[tuple[RunRecord, float]]] = {}
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
        values[t], hib[t], found_by_task[t] = m, task.primary_spec.higher_is_better, found
    ids = {t: sorted(b.id for b, _ in found) for t, found in found_by_task.items()}
    if no_metric:
        return DeltaMResult(None, reason=f"n/a (no {', '.join(no_metric)} in record)", notes=notes, baselines=ids)
    if missing:
        return DeltaMResult(
            None, reason=f"n/a (no single-task baseline for {', '.join(missing)})", notes=notes, baselines=ids
        )
    if not values:
        return DeltaMResult(None, reason="n/a (no task enters Δm)", notes=notes)
    same_seed = {
        t: [(b, v) for b, v in found if record.seed is not None and b.seed == record.seed]
        for t, found in found_by_task.items()
    }
    paired = pairing and all(same_seed.values())
    used = same_seed if paired else found_by_task
    base_values = {t: statistics.fmean(v for _, v in used[t]) if paired else _seed_mean(used[t]) for t in values}
    for t, v in base_values.items():
        if v == 0:
            primary = _task(record, t).primary
            return DeltaMResult(None, reason=f"n/a (single-task baseline {primary} of {t} is 0)", notes=notes)
    dm = delta_m(values, base_values, hib)
    if not paired and record.source == "measured":
        notes.append("unpaired Δm: against the single-task seed mean (no same-seed baseline for every task)")
    ids = {t: sorted(b.id for b, _ in used[t]) for t in values}
    reps = _paired_replicates(record, {t: [b for b, _ in used[t]] for t in values}, hib) if paired else None
    return DeltaMResult(dm, per_record={record.id: dm}, baselines=ids, notes=notes, paired=paired, replicates=reps)


def _paired_replicates(
    record: RunRecord, baselines: dict[str, list[RunRecord]], hib: dict[str, bool]
) -> np.ndarray | None:
    """Δm replicate by replicate (record and same-seed baselines resampled on the same images), or None when
    some record has no comparable replicates."""
    mine: dict[str, np.ndarray] = {}
    base: dict[str, np.ndarray] = {}
    for t, recs in baselines.items():
        own = bootstrap_replicates(record, t)
        theirs = [bootstrap_replicates(b, t) for b in recs]
        if own is None or any(x is None or x[0] != own[0] for x in theirs):
            return None
        mine[t] = own[1]
        base[t] = np.mean([x[1] for x in theirs if x is not None], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = sum((1.0 if hib[t] else -1.0) * (mine[t] - base[t]) / base[t] for t in mine)
    return 100.0 * np.asarray(total) / len(mine)


def group_delta_m(group: Sequence[RunRecord], records: Sequence[RunRecord], pairing: bool = True) -> DeltaMResult:
    """Δm of several runs of one configuration: Δm per run (paired where possible), repeated runs of one seed
    averaged into one value, then the mean, sample std and 95 % interval over seeds (one seed: the paired
    bootstrap interval when the records carry replicates). n/a if any run's Δm is n/a."""
    if not group:
        raise ValueError("group_delta_m needs at least one record")
    results = [record_delta_m(r, records, pairing) for r in group]
    notes = list(dict.fromkeys(n for res in results for n in res.notes))
    baselines: dict[str, list[str]] = {}
    for res in results:
        for t, ids in res.baselines.items():
            baselines[t] = sorted(set(baselines.get(t, [])) | set(ids))
    for res in results:
        if res.value is None:
            return DeltaMResult(None, reason=res.reason, notes=notes, baselines=baselines)
    per = {r.id: res.value for r, res in zip(group, results)}
    sample = seed_sample(group, [res.value for res in results], [res.replicates for res in results])
    kind = results[0].kind
    interval = sample.interval() if kind == "computed" else None
    std = interval.std if interval is not None else None
    pairs = {res.paired for res in results}
    paired = pairs.pop() if len(pairs) == 1 else None
    mean = statistics.fmean(sample.values.values())
    return DeltaMResult(mean, std, per, baselines, notes, kind=kind, paired=paired, sample=sample, interval=interval)


def seed_sample(
    group: Sequence[RunRecord], values: Sequence[float | None], replicates: Sequence[np.ndarray | None] = ()
) -> Sample:
    """A :class:`Sample` from one value (and optional replicates) per record: records of one seed (repeated runs
    of the same configuration) are averaged into one value; records without a seed count as their own."""
    by_seed: dict[int, list[int]] = {}
    extra = -1
    for i, (r, v) in enumerate(zip(group, values)):
        if v is None or not math.isfinite(v):
            continue
        key = r.seed if r.seed is not None else extra
        if r.seed is None:
            extra -= 1
        by_seed.setdefault(key, []).append(i)
    vals = {s: statistics.fmean(cast(float, values[i]) for i in idx) for s, idx in by_seed.items()}
    reps: dict[int, np.ndarray] = {}
    for s, idx in by_seed.items():
        arrs = [a for i in idx if i < len(replicates) and (a := replicates[i]) is not None]
        if arrs and len(arrs) == len(idx) and len({a.shape for a in arrs}) == 1:
            reps[s] = np.mean(arrs, axis=0)
    return Sample(vals, reps, repeats=sum(len(i) - 1 for i in by_seed.values()))


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
