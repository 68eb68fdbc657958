"""What is registered: models, tasks, datasets, backbones (for ``mtbench list``)."""

from __future__ import annotations


def catalog(what: str | None = None) -> dict[str, list[tuple[str, str]]]:
    """Section name -> [(name, one-line description)]."""
    out: dict[str, list[tuple[str, str]]] = {}
    if what in (None, "models"):
        from mtbench.registry import list_models, model_info

        out["models"] = [(n, model_info(n).description) for n in list_models()]
    if what in (None, "tasks"):
        from mtbench.registry import get_task, list_tasks

        out["tasks"] = [(n, get_task(n).description) for n in list_tasks()]
    if what in (None, "datasets"):
        from mtbench.data.spec import DATASETS

        out["datasets"] = [(n, s.description) for n, s in DATASETS.items()]
    if what in (None, "backbones"):
        try:
            from mtbench.backbones import BACKBONES
        except ImportError:
            BACKBONES = {}
        out["backbones"] = [(n, d) for n, d in BACKBONES.items()] + [
            ("timm:<name>", "any timm features_only backbone"),
            ("mmseg:<type|config.py>[,k=v]", "any mmsegmentation backbone (the OpenMMLab extra)"),
        ]
    return out
