"""Common random numbers: runs of one seed see the same data in the same order whatever the model and its
tasks, and models sharing a backbone start from the same backbone weights (what paired Δm relies on)."""

from __future__ import annotations

import pytest
import torch

from mtbench.backbones import build_backbone
from mtbench.config import build_config
from mtbench.engine.run import build_data, build_model, resolve_experiment, split_single_task
from mtbench.engine.runtime import DistInfo, seed_everything
from mtbench.engine.trainer import Trainer
from mtbench.registry import list_models, model_info

TINY = ["data.n_train=24", "data.n_val=4", "data.train_size=[64,96]", "train.batch_size=4", "run.profile=false"]


def _batches(cfg, tmp_path, n: int = 3) -> list[dict]:
    exp = resolve_experiment(cfg)
    seed_everything(cfg.run.seed)
    model = build_model(cfg, exp)
    trainer = Trainer(
        cfg,
        model,
        build_data(cfg, exp, "train"),
        build_data(cfg, exp, "val"),
        exp.spec,
        exp.tasks,
        exp.aux_tasks,
        torch.device("cpu"),
        DistInfo(),
        tmp_path,
    )
    out = []
    for i, batch in enumerate(trainer._loader(0, 0)):
        if i == n:
            break
        out.append(batch)
    return out


@pytest.mark.parametrize("seed", [0, 3])
def test_same_seed_runs_of_different_models_see_the_same_data_in_the_same_order(tmp_path, seed):
    sets = [*TINY, f"run.seed={seed}"]
    single = split_single_task(build_config(None, [*sets, "model.name=single_task"]))[0]  # semseg only
    mtl = build_config(None, [*sets, "model.name=mtl"])  # semseg + depth
    mti = build_config(None, [*sets, "model.name=mtinet"])  # + normals, edge auxiliary
    a, b, c = (_batches(cfg, tmp_path / cfg.model.name) for cfg in (single, mtl, mti))
    for x, y, z in zip(a, b, c):
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["image"], z["image"])
        assert torch.equal(x["semseg"], y["semseg"]) and torch.equal(y["depth"], z["depth"])
        assert x["meta"]["name"] == y["meta"]["name"] == z["meta"]["name"]
    # another seed: another order (the check above is not vacuous)
    other = _batches(build_config(None, [*TINY, f"run.seed={seed + 1}", "model.name=mtl"]), tmp_path / "o")
    assert any(not torch.equal(x["image"], y["image"]) for x, y in zip(b, other))


def _random_tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    """The randomly initialised tensors of a module (weights of more than one element; not BN's constants)."""
    return [t for k, t in module.state_dict().items() if t.is_floating_point() and t.numel() > 1 and "weight" in k]


@pytest.mark.parametrize("name", list_models())
def test_same_seed_models_start_from_the_same_backbone_weights(name):
    """For every registered model: after seeding, its backbone's initial weights are those of the bare backbone
    built first after the same seed (the backbone is built before anything else draws random numbers)."""
    info = model_info(name)
    backbone = "hrnet18" if info.backbones.accepts("hrnet18") else info.backbones.default
    cfg = build_config(None, [*TINY, f"model.name={name}", f"model.backbone={backbone}", "run.seed=5"])
    cfg = split_single_task(cfg)[0]
    exp = resolve_experiment(cfg)
    seed_everything(5)
    reference = _random_tensors(build_backbone(backbone))
    seed_everything(5)
    model = build_model(cfg, exp)
    mine = [t for t in model.state_dict().values() if t.is_floating_point()]
    missing = [
        i for i, ref in enumerate(reference) if not any(t.shape == ref.shape and torch.equal(t, ref) for t in mine)
    ]
    assert not missing, f"{name}: {len(missing)} of {len(reference)} backbone tensors differ from the bare backbone's"
    # the check is not vacuous: another seed gives other weights
    seed_everything(6)
    assert not torch.equal(_random_tensors(build_backbone(backbone))[0], reference[0])
