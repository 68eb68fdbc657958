"""Regression check of measured records against reference records: what CI calls (``mtbench check``).

Matching key: the record's identity ``RunRecord.key`` (model, seed, ``config_hash``, model options, dataset,
split, backbone, tasks, aux tasks, input size); the config hash leaves out paths, device and verbosity, so
the same experiment run elsewhere matches, while a changed recipe needs a new reference.
Only measured runs take part on both sides (``source == "measured"``; not constant-predictor floor records).

Every metric of every task in the reference is compared with its direction (``MetricSpec``): a
regression is a worse value by more than ``max(abs_tol, rel_tol * |reference|)`` (or a per-metric
absolute tolerance ``task.metric=TOL``); an improvement beyond tolerance is reported and passes; a
metric whose direction is unknown fails on any change beyond tolerance; a metric missing from the
measured record fails. A measured record without a reference, a reference without a measured record
and a measured run whose status is not complete all fail too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtbench.errors import MtbenchError, RecordError, UsageError
from mtbench.reporting.results import RunRecord, load_records

FORMATS = ("text", "github")
FAILING = ("REGRESSED", "CHANGED", "MISSING")


def describe(r: RunRecord) -> str:
    """Short human label of a record's key, e.g. ``mtinet hrnet18 synthetic/val semseg+depth seed 0``."""
    opts = ",".join(f"{k}={v}" for k, v in sorted(r.model_kwargs.items()))
    aux = f" aux {'+'.join(r.aux_tasks)}" if r.aux_tasks else ""
    size = f" {r.cost.input_size[0]}x{r.cost.input_size[1]}" if r.cost.input_size else ""
    return (
        f"{r.model}{f'[{opts}]' if opts else ''} {r.backbone} {r.dataset}/{r.split} "
        f"{'+'.join(r.tasks)}{aux}{size} seed {r.seed}"
    )


@functools.cache
def metric_direction(task: str, metric: str) -> bool | None:
    """True if higher is better, False if lower is, None if unknown (from the task's metric specs)."""
    from mtbench.registry import get_task

    try:
        t = get_task(task)
    except MtbenchError:
        return None
    spec = t.metric_spec(metric)  # per-class keys (IoU_3) included
    return None if spec is None else spec.higher_is_better


def parse_overrides(items: Sequence[str] | None) -> dict[str, float]:
    """``["semseg.mIoU=0.5", ...]`` -> ``{"semseg.mIoU": 0.5}`` (absolute tolerances)."""
    out: dict[str, float] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        try:
            if not sep or "." not in key:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"Bad --tol '{item}'; expected TASK.METRIC=ABS_TOL, e.g. semseg.mIoU=0.5.") from None
    return out


@dataclass
class MetricDiff:
    record: str
    task: str
    metric: str
    reference: float | None
    measured: float | None
    tolerance: float
    status: str  # ok | improved | new | REGRESSED | CHANGED | MISSING

    @property
    def delta(self) -> float | None:
        if self.reference is None or self.measured is None:
            return None
        return self.measured - self.reference


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _override(overrides: dict[str, float], key: str) -> float | None:
    """Per-metric absolute tolerance: an exact ``task.metric`` key, else the first matching shell pattern
    (``semseg.IoU_*``)."""
    import fnmatch

    if key in overrides:
        return overrides[key]
    return next((v for pat, v in overrides.items() if fnmatch.fnmatchcase(key, pat)), None)


TOLERANCE_FILE = "tolerances.yaml"


def reference_tolerances(reference: Path | str) -> dict[str, Any]:
    """Tolerances stored beside the reference records (``<reference>/tolerances.yaml``: rel_tol, abs_tol,
    overrides {pattern: abs}); empty when absent."""
    import yaml

    path = Path(reference) / TOLERANCE_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise RecordError(f"{path}: cannot read tolerances ({e})") from e
    unknown = (
        sorted(set(data) - {"rel_tol", "abs_tol", "overrides", "measured"})
        if isinstance(data, dict)
        else ["<not a mapping>"]
    )
    if unknown:
        raise RecordError(f"{path}: expected keys rel_tol, abs_tol, overrides (unexpected: {', '.join(unknown)})")
    for key in ("rel_tol", "abs_tol"):
        if key in data and not _is_tolerance(data[key]):
            raise RecordError(f"{path}: {key} must be a non-negative number, got {data[key]!r}")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and _is_tolerance(v) for k, v in overrides.items()
    ):
        raise RecordError(f"{path}: overrides must map TASK.METRIC patterns to non-negative numbers")
    return data


def _is_tolerance(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def compare(
    new: RunRecord, ref: RunRecord, rel_tol: float, abs_tol: float, overrides: dict[str, float] | None = None
) -> list[MetricDiff]:
    """Compare every metric of every task of ``ref`` with ``new`` (NaN counts as absent)."""
    label, out = describe(new), []
    tasks = list(dict.fromkeys([*ref.metrics, *new.metrics]))
    for t in tasks:
        ref_m, new_m = ref.metrics.get(t, {}), new.metrics.get(t, {})
        for m in dict.fromkeys([*ref_m, *new_m]):
            r, n = _num(ref_m.get(m)), _num(new_m.get(m))
            tol = _override(overrides or {}, f"{t}.{m}")
            if tol is None:
                tol = max(abs_tol, rel_tol * abs(r)) if r is not None else abs_tol
            if r is None:
                status = "new" if n is not None else "ok"
            elif n is None:
                status = "MISSING"
            elif abs(n - r) <= tol:
                status = "ok"
            else:
                hib = metric_direction(t, m)
                status = "CHANGED" if hib is None else "improved" if (n > r) == hib else "REGRESSED"
            out.append(MetricDiff(label, t, m, r, n, tol, status))
    return out


@dataclass
class CheckResult:
    """Outcome of a check: per-metric diffs and the unmatched or failed records (one message each)."""

    diffs: list[MetricDiff] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    compared: int = 0
    rel_tol: float = 0.02
    abs_tol: float = 0.0

    @property
    def failures(self) -> list[MetricDiff]:
        return [d for d in self.diffs if d.status in FAILING]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems

    def summary(self) -> str:
        improved = sum(d.status == "improved" for d in self.diffs)
        tol = f"rel_tol {self.rel_tol:g}, abs_tol {self.abs_tol:g}"
        head = "OK" if self.ok else "FAIL"
        return (
            f"{head}: {self.compared} record(s), {len(self.diffs)} metric(s) compared ({tol}): "
            f"{len(self.failures)} regression(s), {improved} improvement(s), "
            f"{len(self.problems)} unmatched/failed record(s)"
        )

    def render(self, fmt: str = "text", changes_only: bool | None = None) -> str:
        """A diff table (text or github markdown), the unmatched records, and the summary line.
        ``changes_only`` (default: True for github, False for text) leaves out metrics with status ok."""
        from tabulate import tabulate

        if fmt not in FORMATS:
            raise UsageError(f"Unknown format '{fmt}'; valid: {', '.join(FORMATS)}.")
        g = fmt == "github"
        changes_only = g if changes_only is None else changes_only
        rows = []
        for d in self.diffs:
            if changes_only and d.status == "ok":
                continue
            delta = d.delta
            rel = f"{100 * delta / abs(d.reference):+.2f}%" if delta is not None and d.reference else ""
            status = f"**{d.status}**" if g and d.status in FAILING else d.status
            rows.append(
                [
                    d.record,
                    d.task,
                    d.metric,
                    _fmt(d.reference),
                    _fmt(d.measured),
                    _fmt(delta, signed=True),
                    rel,
                    f"{d.tolerance:.4g}",
                    status,
                ]
            )
        headers = ["Record", "Task", "Metric", "Reference", "Measured", "Δ", "Δ %", "Tolerance", "Status"]
        parts = [("### mtbench check: " if g else "") + self.summary()]
        if rows:
            parts.append(tabulate(rows, headers=headers, tablefmt="github" if g else "simple", disable_numparse=True))
        parts += [f"- {p}" if g else p for p in self.problems]
        if not g and not self.ok:
            parts.append(self.summary())  # repeat at the end, where CI logs are read
        return "\n\n".join(parts) + "\n"


def _fmt(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v:+.6g}" if signed else f"{v:.6g}"


def _index(records: Sequence[RunRecord], what: str) -> dict[tuple, RunRecord]:
    out: dict[tuple, RunRecord] = {}
    for r in records:
        k = r.key
        if k in out:
            raise RecordError(f"{r.where}: two {what} records for {describe(r)} (also {out[k].where})")
        out[k] = r
    return out


def run_check(
    reference: Path | str,
    results: Path | str = "results",
    *,
    rel_tol: float | None = None,
    abs_tol: float | None = None,
    overrides: Sequence[str] | dict[str, float] | None = None,
) -> CheckResult:
    """Compare each measured record under ``results`` (``reference/`` excluded) with its reference
    record under ``reference`` (a folder or one file). See the module docstring for the rules.
    Tolerances not given fall back to the reference folder's ``tolerances.yaml``, then 0.02 / 0."""
    stored = reference_tolerances(reference) if Path(reference).is_dir() else {}
    rel_tol = float(stored.get("rel_tol", 0.02)) if rel_tol is None else rel_tol
    abs_tol = float(stored.get("abs_tol", 0.0)) if abs_tol is None else abs_tol
    if not isinstance(overrides, dict):
        overrides = parse_overrides(overrides)
    overrides = {**{k: float(v) for k, v in (stored.get("overrides") or {}).items()}, **overrides}
    if rel_tol < 0 or abs_tol < 0:
        raise UsageError(f"Tolerances must be >= 0 (got --rel-tol {rel_tol}, --abs-tol {abs_tol}).")
    if not Path(reference).exists():
        raise RecordError(f"{reference}: reference folder or file does not exist")
    refs = _index(
        [r for r in load_records(reference, exclude=()) if r.source == "measured" and not r.is_floor], "reference"
    )
    measured = [r for r in load_records(results) if r.source == "measured" and not r.is_floor]
    if not refs and not measured:
        raise MtbenchError(f"nothing to check: no measured records in {results} and none in {reference}")
    result = CheckResult(rel_tol=rel_tol, abs_tol=abs_tol)
    for key, new in _index(measured, "measured").items():
        ref = refs.get(key)
        if new.status != "complete":
            result.problems.append(f"measured run {new.where} ({describe(new)}) has status '{new.status}'")
        elif ref is None:
            result.problems.append(f"no reference for measured record {new.where} ({describe(new)}) in {reference}")
        else:
            result.compared += 1
            result.diffs += compare(new, ref, rel_tol, abs_tol, overrides)
    seen = {r.key for r in measured}
    for key, ref in refs.items():
        if key not in seen:
            result.problems.append(f"no measured record for reference {ref.where} ({describe(ref)}) in {results}")
    return result
