"""Dense-prediction tasks; importing this package registers all of them (one module per task)."""

from mtbench.tasks import depth, edge, human_parts, normals, saliency, semseg  # noqa: F401
from mtbench.tasks.base import Task  # noqa: F401
