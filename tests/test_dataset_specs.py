"""Every registered dataset's descriptor is consistent: tasks, builder, augmentation, metric options."""

from __future__ import annotations

import pytest

from mtbench.data import build_dataset, eval_transform, train_transform
from mtbench.data.spec import get_dataset_spec, list_datasets
from mtbench.engine.evaluate import make_metrics
from mtbench.errors import UsageError
from mtbench.registry import list_tasks


@pytest.mark.parametrize("name", list_datasets())
def test_dataset_spec_is_consistent(name: str, monkeypatch):
    spec = get_dataset_spec(name)
    assert spec.name == name and set(spec.tasks) <= set(list_tasks())
    assert set(spec.default_tasks) <= set(spec.tasks) and set(spec.default_aux_tasks) <= set(spec.tasks)
    assert all(h % 32 == 0 for h in spec.train_size) and spec.description and spec.geometry
    assert set(spec.metric_options) <= set(spec.tasks)
    # the dataset's metric options are accepted by its tasks' metrics, the run's options win
    metrics = make_metrics(list(spec.tasks), spec)
    assert set(metrics) == set(spec.tasks)
    if "edge" in spec.metric_options:
        assert metrics["edge"].protocol()["max_dist"] == spec.metric_options["edge"]["max_dist"]
        assert make_metrics(["edge"], spec, {"edge": {"max_dist": 0.5}})["edge"].protocol()["max_dist"] == 0.5
    # the augmentation recipe builds; only the release recipe has an evaluation transform
    assert len(train_transform(name, spec.train_size).transforms) >= 2
    assert (eval_transform(name, spec.train_size) is None) == (spec.augmentation.kind != "release")
    # a dataset that is not embedded needs a root, named as the CLI spells the option
    monkeypatch.delenv("MTBENCH_DATA", raising=False)
    if not spec.embedded:
        with pytest.raises(UsageError, match="--data-root"):
            build_dataset(name, "val", tasks=list(spec.default_tasks), train=False)


def test_embedded_dataset_renders_at_the_run_size():
    spec = get_dataset_spec("synthetic")
    assert spec.embedded and spec.renders_at_run_size
    val = build_dataset("synthetic", "val", tasks=["semseg"], train=False, size=(32, 64), n=2)
    assert val[0]["image"].shape == (3, 32, 64) and val[0]["semseg"].shape == (32, 64)
