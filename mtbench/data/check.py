"""``mtbench data check``: validate a dataset folder without training.

Every listed sample of every split is read with the loader's own reader (``read``), so the check
reports exactly the DataErrors that training would raise, one line per problem, each naming its file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtbench.errors import DataError

log = logging.getLogger(__name__)
SPLITS = ("train", "val")


@dataclass
class CheckReport:
    """Result of ``check_dataset``: counts per split, label values seen, and problems (one line each)."""

    dataset: str
    root: str
    listed: dict[str, int] = field(default_factory=dict)
    readable: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, set] = field(default_factory=dict)
    classes_seen: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the summary table (one row per split)."""
        tasks = sorted({t for per in self.classes_seen.values() for t in per})
        header = ["split", "listed", "readable", "image sizes"] + [f"{t} classes seen" for t in tasks]
        rows = []
        for split in self.listed:
            sizes = sorted(self.sizes.get(split, ()))
            size_txt = ", ".join(f"{h}x{w}" for h, w in sizes[:3]) + (f" (+{len(sizes) - 3})" if len(sizes) > 3 else "")
            seen = self.classes_seen.get(split, {})
            rows.append(
                [split, str(self.listed[split]), str(self.readable.get(split, 0)), size_txt or "-"]
                + [_ranges(seen.get(t, [])) for t in tasks]
            )
        return header, rows


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5 (4)'."""
    if not values:
        return "-"
    parts, start, prev = [], values[0], values[0]
    for v in values[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(f"{start}-{prev}" if prev > start else f"{start}")
        if v is not None:
            start = prev = v
    return f"{', '.join(parts)} ({len(values)})"


def _open(name: str, root: Path, split: str):
    from mtbench.data.spec import get_dataset_spec

    spec = get_dataset_spec(name)
    return spec.build(root, split, list(spec.tasks), train=True, strict=False)  # targets as stored, no transform


def check_dataset(name: str, root: str | Path | None) -> CheckReport:
    """Read and validate every sample of ``root`` in the layout of dataset ``name``.

    nyud and synthetic (a folder written by ``mtbench data synth``) use the NYUD layout,
    pascal_context the PASCAL_MT layout. A missing root raises DataError; everything else is a problem.
    """
    from mtbench.data.spec import get_dataset_spec

    get_dataset_spec(name)
    if root is None:
        raise DataError(
            f"Dataset '{name}' check needs a folder; 'mtbench data synth --out DIR' writes one for synthetic."
        )
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Dataset root '{root}' does not exist or is not a folder.")
    report = CheckReport(name, str(root))
    label_tasks = ("semseg", "human_parts")
    for split in SPLITS:
        try:
            ds = _open(name, root, split)
        except DataError as e:
            report.problems.append(str(e))
            continue
        report.listed[split] = len(ds.ids) + len(ds.problems)
        report.problems += ds.problems
        seen: dict[str, set] = {t: set() for t in ds.tasks if t in label_tasks}
        ok = 0
        for sample_id in ds.ids:
            try:
                arrays = ds.read(sample_id)
            except DataError as e:
                report.problems.append(str(e))
                continue
            ok += 1
            report.sizes.setdefault(split, set()).add(tuple(arrays["image"].shape[:2]))
            for t in seen:
                seen[t].update(int(v) for v in np.unique(arrays[t]) if v != 255)
        report.readable[split] = ok
        report.classes_seen[split] = {t: sorted(v) for t, v in seen.items()}
        log.info("checked %s/%s: %d of %d readable", name, split, ok, report.listed[split])
    return report
