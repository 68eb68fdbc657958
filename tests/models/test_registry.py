"""The model registry: ModelInfo descriptors given at registration, create_model's checks against them, the
engine asking them, and discovery of model packages through the ``mtbench.models`` entry-point group."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn as nn
from conftest import tiny_overrides

import mtbench.registry as registry
from mtbench.errors import MtbenchError, UsageError
from mtbench.registry import (
    Backbones,
    create_model,
    list_models,
    model_entrypoint,
    model_info,
    register_model,
    unregister_model,
)

OUT = {"semseg": 10, "depth": 1, "edge": 1}
TOY = "toy_test_model"
TOY_BACKBONES = Backbones("toy_a", ("toy_*",), "a toy backbone (toy_*)")


class ToyNet(nn.Module):
    """One 1×1 conv per task."""

    def __init__(self, tasks: list[str], out_channels: dict[str, int], width: int) -> None:
        super().__init__()
        self.tasks, self.aux_tasks, self.width = list(tasks), [], width
        self.heads = nn.ModuleDict({t: nn.Conv2d(3, out_channels[t], 1) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {t: h(x) for t, h in self.heads.items()}


def toy(
    *,
    tasks: list[str],
    aux_tasks: list[str],
    out_channels: dict[str, int],
    backbone: str = "toy_a",
    pretrained: str | bool | None = None,
    width: int = 4,
) -> ToyNet:
    """Toy model: one 1×1 conv per task."""
    return ToyNet(tasks, out_channels, width)


@pytest.fixture
def toy_model():
    """``toy`` registered from this module (not from mtbench) for one test, then removed again."""
    register_model(TOY, aux_tasks=False, one_net_per_task=False, backbones=TOY_BACKBONES)(toy)
    try:
        yield model_info(TOY)
    finally:
        unregister_model(TOY)


def test_a_model_registered_outside_mtbench_is_built_and_checked(toy_model):
    assert toy_model.entrypoint is toy and model_entrypoint(TOY) is toy
    assert (toy_model.aux_tasks, toy_model.one_net_per_task) == (False, False)
    assert toy_model.description == "Toy model: one 1×1 conv per task."
    assert TOY in list_models()
    net = create_model(TOY, tasks=["semseg", "depth"], out_channels=OUT, width=8)  # backbone None: the default
    assert isinstance(net, ToyNet) and net.width == 8
    assert {t: o.shape[1] for t, o in net(torch.randn(1, 3, 32, 32)).items()} == {"semseg": 10, "depth": 1}
    create_model(TOY, tasks=["semseg"], out_channels=OUT, backbone="toy_b")
    with pytest.raises(
        UsageError,
        match=f"Model '{TOY}' has no deep supervision, so auxiliary tasks \\(edge\\) "
        f"would be ignored; drop --aux-tasks or use mtinet / padnet",
    ):
        create_model(TOY, tasks=["semseg"], aux_tasks=["edge"], out_channels=OUT)
    with pytest.raises(
        UsageError,
        match=f"Model '{TOY}' needs a toy backbone \\(toy_\\*\\), got --backbone hrnet18; pass e.g. --backbone toy_a",
    ):
        create_model(TOY, tasks=["semseg"], out_channels=OUT, backbone="hrnet18")
    with pytest.raises(
        UsageError, match=f"Model '{TOY}' has no option 'depth' \\(from --set model.kwargs.depth=...\\); valid: width"
    ):
        create_model(TOY, tasks=["semseg"], out_channels=OUT, depth=3)
    with pytest.raises(UsageError, match="needs at least one task"):
        create_model(TOY, tasks=[], out_channels=OUT)
    with pytest.raises(UsageError, match="no output channel count for task\\(s\\) normals"):
        create_model(TOY, tasks=["normals"], out_channels=OUT)
    with pytest.raises(UsageError, match="Duplicate task in --tasks"):
        create_model(TOY, tasks=["semseg", "semseg"], out_channels=OUT)


def test_unregister_leaves_the_registry_as_before(toy_model):
    before = list_models()
    assert unregister_model(TOY) == toy_model and unregister_model(TOY) is None
    assert list_models() == [m for m in before if m != TOY]
    with pytest.raises(UsageError, match=f"Unknown model '{TOY}'"):
        model_info(TOY)


def test_registration_errors(toy_model):
    def other(*, tasks, aux_tasks, out_channels, backbone="toy_a", pretrained=None):
        """Another entry point."""

    with pytest.raises(KeyError, match="already registered"):
        register_model(TOY, aux_tasks=False, backbones=TOY_BACKBONES)(other)
    with pytest.raises(ValueError, match="default backbone 'toy_a' differs from the registered default 'hrnet18'"):
        register_model("toy_other", aux_tasks=False)(other)
    with pytest.raises(ValueError, match="does not match"):
        register_model("toy_other", aux_tasks=False, backbones=Backbones("toy_a", ("other_*",), "others"))(other)
    with pytest.raises(ValueError, match="reserved for the constant-predictor floor"):
        register_model("constant", aux_tasks=False, backbones=TOY_BACKBONES)(other)
    assert "toy_other" not in list_models() and model_info(TOY).entrypoint is toy


def test_one_net_per_task_model_takes_one_task():
    register_model("toy_one", aux_tasks=True, one_net_per_task=True, backbones=TOY_BACKBONES)(toy)
    try:
        with pytest.raises(
            UsageError,
            match="'toy_one' takes exactly one task, got 2 \\(semseg, depth\\); "
            "pass one task with --tasks NAME \\(one toy_one model per task\\)",
        ):
            create_model("toy_one", tasks=["semseg", "depth"], out_channels=OUT)
        create_model("toy_one", tasks=["semseg"], aux_tasks=["edge"], out_channels=OUT)
    finally:
        unregister_model("toy_one")


def test_the_engine_asks_the_descriptor(tmp_path):
    """Aux tasks dropped (with a note) and one run per task follow the descriptor, not the model name."""
    from mtbench.config import build_config
    from mtbench.engine.run import resolve_experiment, split_single_task

    register_model("toy_per_task", aux_tasks=False, one_net_per_task=True, backbones=TOY_BACKBONES)(toy)
    try:
        cfg = build_config(None, tiny_overrides(tmp_path), **{"model.name": "toy_per_task"})
        exp = resolve_experiment(cfg)  # the synthetic recipe's auxiliary tasks: normals, edge
        assert exp.aux_tasks == [] and any("not used: model 'toy_per_task' takes none" in n for n in exp.notes)
        assert [c.data.tasks for c in split_single_task(cfg)] == [["semseg"], ["depth"]]
    finally:
        unregister_model("toy_per_task")
    multi = build_config(None, tiny_overrides(tmp_path), **{"model.name": "mtinet"})
    assert resolve_experiment(multi).aux_tasks == ["normals", "edge"] and split_single_task(multi) == [multi]


def test_list_models_shows_the_descriptor(capsys):
    from mtbench.cli import main

    main(["list", "models"])
    lines = capsys.readouterr().out.splitlines()
    facts = {lines[i].split()[0]: lines[i + 1].strip() for i in range(1, len(lines) - 1, 2)}
    assert facts["single_task"] == "aux tasks: no; one net per task: yes; backbone: any backbone, default hrnet18"
    assert facts["mtinet"].startswith("aux tasks: yes; one net per task: no")
    assert "a ResNet backbone" in facts["mtan"] and facts["mtan"].endswith("default resnet18")


# --- discovery through the entry-point group -------------------------------------------------------------

PLUGIN = '''
"""A third-party model package: importing it registers its model."""
import torch.nn as nn

from mtbench.registry import register_model


@register_model("{name}", aux_tasks=True)
def plugin(*, tasks, aux_tasks, out_channels, backbone="hrnet18", pretrained=None):
    """Plug-in model: one 1×1 conv per task."""
    return nn.ModuleDict({{t: nn.Conv2d(3, out_channels[t], 1) for t in tasks}})
'''


def fake_distribution(root, dist: str, entries: dict[str, str]) -> None:
    """A minimal installed distribution in ``root``: ``<dist>.dist-info`` with METADATA and entry_points.txt."""
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = [f"{k} = {v}" for k, v in entries.items()]
    (info / "entry_points.txt").write_text("\n".join([f"[{registry.ENTRY_POINT_GROUP}]", *lines, ""]))


@pytest.fixture
def fresh_registry(monkeypatch, tmp_path):
    """A registry that loads its model packages again (from an entry-point group that also sees ``tmp_path``);
    restored afterwards, plug-in modules imported from ``tmp_path`` forgotten."""
    list_models()  # the installed packages registered in the real registry first (their import happens once)
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("mtbench_toy_"):
            del sys.modules[name]


def test_model_packages_are_found_through_the_entry_point_group(fresh_registry):
    (fresh_registry / "mtbench_toy_plugin.py").write_text(PLUGIN.format(name="toy_plugin_model"))
    fake_distribution(fresh_registry, "mtbench_toy_plugin", {"toy": "mtbench_toy_plugin"})
    models = list_models()
    assert "toy_plugin_model" in models and {"mtinet", "single_task", "mtl"} <= set(models)
    info = model_info("toy_plugin_model")
    assert info.entrypoint.__module__ == "mtbench_toy_plugin" and info.aux_tasks
    net = create_model("toy_plugin_model", tasks=["semseg"], aux_tasks=["edge"], out_channels=OUT)
    assert set(net) == {"semseg"}


def test_a_package_that_fails_to_import_is_named(fresh_registry):
    (fresh_registry / "mtbench_toy_broken.py").write_text("raise ImportError('needs the foo package\\nmore')\n")
    fake_distribution(fresh_registry, "mtbench_toy_broken", {"broken": "mtbench_toy_broken"})
    with pytest.raises(MtbenchError) as e:
        list_models()
    msg = str(e.value)
    assert msg == (
        "Model package 'broken = mtbench_toy_broken' (entry point of mtbench_toy_broken in group "
        "'mtbench.models') failed to import: ImportError: needs the foo package"
    )


def test_no_model_packages_is_an_error(monkeypatch):
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    with pytest.raises(MtbenchError, match="No model packages in the entry-point group 'mtbench.models'"):
        list_models()
