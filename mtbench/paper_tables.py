"""The MTI-Net paper's tables that mtbench reproduces: each row as the ``mtbench run`` that measures it and
the numbers the paper reports for it (DESIGN.md "Published numbers").

``scripts/reported_records.py`` writes these rows as ``source: reported`` records; ``mtbench reproduce``
runs them with the release's protocol and prints measured beside reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CITATION = (
    "S. Vandenhende, S. Georgoulis, L. Van Gool. MTI-Net: Multi-Scale Task Interaction Networks for "
    "Multi-Task Learning. ECCV 2020"
)


@dataclass(frozen=True)
class PaperRow:
    """One row: the model and its options, and what the paper reports (primary metric per task, Δm %)."""

    key: str  # id suffix of the reported record
    label: str  # the row's name in the paper
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    aux_tasks: tuple[str, ...] = ()
    reported: dict[str, float] = field(default_factory=dict)
    delta_m: float | None = None
    rel_params: float | None = None  # Table 7, relative to single-task (2 tasks)
    rel_flops: float | None = None

    def sets(self) -> tuple[str, ...]:
        """The --set items that make this row's run (model options and auxiliary tasks)."""
        kw = tuple(f"model.kwargs.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in self.kwargs.items())
        return (*kw, f"data.aux_tasks=[{','.join(self.aux_tasks)}]")


@dataclass(frozen=True)
class PaperTable:
    name: str
    where: str  # e.g. "Table 2a"
    dataset: str
    backbone: str
    config: str  # the mtbench recipe with the release's protocol
    tasks: tuple[str, ...]
    input_size: tuple[int, int]
    rows: tuple[PaperRow, ...]
    description: str = ""


NYUD_TABLE_2A = PaperTable(
    name="nyud-table2a",
    where="Table 2a",
    dataset="nyud",
    backbone="hrnet18",
    config="nyud_hrnet18_480x640_100ep",
    tasks=("semseg", "depth"),
    input_size=(480, 640),
    description="NYUD-v2, HRNet-18: single-task, multi-task baseline, PAD-Net and MTI-Net ablations",
    rows=(
        PaperRow(
            "single-task",
            "Single task",
            "single_task",
            reported={"semseg": 33.18, "depth": 0.667},
            delta_m=0.0,
            rel_params=0.0,
            rel_flops=0.0,
        ),
        PaperRow(
            "mtl",
            "Multi-task baseline",
            "mtl",
            reported={"semseg": 32.09, "depth": 0.668},
            delta_m=-1.71,
            rel_params=-0.50,
            rel_flops=-0.45,
        ),
        PaperRow(
            "padnet",
            "PAD-Net",
            "padnet",
            reported={"semseg": 32.80, "depth": 0.660},
            delta_m=-0.02,
            rel_params=-0.15,
            rel_flops=+2.04,
        ),
        PaperRow(
            "mtinet-nofpm",
            "MTI-Net w/o FPM",
            "mtinet",
            {"fpm": False},
            reported={"semseg": 34.38, "depth": 0.640},
            delta_m=3.85,
        ),
        PaperRow(
            "mtinet",
            "MTI-Net",
            "mtinet",
            reported={"semseg": 35.12, "depth": 0.620},
            delta_m=6.40,
            rel_params=+0.57,
            rel_flops=-0.13,
        ),
        PaperRow(
            "mtinet-aux-edge",
            "MTI-Net + edge (aux)",
            "mtinet",
            aux_tasks=("edge",),
            reported={"semseg": 36.22, "depth": 0.600},
            delta_m=9.57,
        ),
        PaperRow(
            "mtinet-aux-edge-normals",
            "MTI-Net + edge + normals (aux)",
            "mtinet",
            aux_tasks=("edge", "normals"),
            reported={"semseg": 37.49, "depth": 0.607},
            delta_m=10.91,
        ),
    ),
)

TABLES: dict[str, PaperTable] = {t.name: t for t in (NYUD_TABLE_2A,)}


def get_table(name: str) -> PaperTable:
    from mtbench.errors import unknown_name

    if name not in TABLES:
        raise unknown_name("paper table", name, TABLES)
    return TABLES[name]
