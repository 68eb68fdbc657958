"""Human-readable summaries of one run (printed by ``mtbench run`` / ``mtbench eval``)."""

from __future__ import annotations

from pathlib import Path

from mtbench.registry import get_task
from mtbench.reporting.results import ORIGINS, RunRecord


def run_summary(record: RunRecord, path: Path) -> str:
    """A short block: metrics with units and directions, cost, record path, and the leaderboard row."""
    lines = [
        f"run {record.id}: {record.model} / {record.backbone} on {record.dataset} ({record.split}), "
        f"checkpoint {record.checkpoint}"
    ]
    for t in record.tasks:
        spec = get_task(t).primary_spec
        vals = ", ".join(
            f"{k}={v:.4g}" for k, v in record.metrics[t].items() if v is not None and not k.startswith("IoU_")
        )
        lines.append(f"  {t:<12} {spec.name} ({spec.unit}) {spec.arrow} = {record.primary.get(t)}   [{vals}]")
    c = record.cost
    if c.params is not None:
        lines.append(
            f"  cost: {c.params / 1e6:.3f} M params, {c.gmacs:.3f} GMACs at {c.input_size}, "
            f"latency {c.latency_ms:.1f} ms ({c.device}), peak memory {c.peak_mem_mb:.0f} MiB ({c.mem_kind})"
        )
    if record.timings:
        lines.append("  time: " + ", ".join(f"{k} {_seconds(v)}" for k, v in record.timings.items()))
    lines += [f"  note: {n}" for n in record.notes]
    lines.append(f"  record: {path}")
    row = leaderboard_row(record, path)
    if row:
        lines += ["", row]
    return "\n".join(lines)


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:04.1f} s"


def leaderboard_row(record: RunRecord, path: Path) -> str:
    """The leaderboard table of this record's dataset and backbone, if the leaderboard module is present."""
    try:
        from mtbench.reporting.leaderboard import leaderboard
    except ImportError:
        return ""
    results_root = Path(path).parents[2]  # <root>/<dataset>/<model>/<id>.json
    if results_root.name in ORIGINS:  # e.g. results/local/: show the run beside the committed records
        results_root = results_root.parent
    try:
        return leaderboard(results_root, dataset=record.dataset, backbone=record.backbone, fmt="github")
    except Exception as e:  # the run itself succeeded; a leaderboard problem must not hide its result
        return f"(leaderboard not rendered: {e})"
