"""Config: recipes, one base level, --set overrides, validation messages, hash."""

from __future__ import annotations

import pytest

from mtbench.config import build_config, list_configs, parse_override
from mtbench.errors import UsageError


def test_default_recipe_is_the_synthetic_benchmark():
    cfg = build_config()
    assert cfg.data.dataset == "synthetic"
    assert cfg.model.name == "mtinet" and cfg.model.backbone == "hrnet18"
    assert cfg.data.tasks == ["semseg", "depth"] and cfg.data.aux_tasks == ["normals", "edge"]


def test_named_recipes_and_prefix():
    assert {"synthetic_default", "nyud_hrnet18_480x640_100ep", "pascal_hrnet18_512x512_100ep"} <= set(list_configs())
    nyud = build_config("nyud_hrnet18")
    assert (nyud.train.lr, nyud.train.weight_decay, nyud.train.epochs, nyud.train.batch_size) == (1e-4, 1e-4, 100, 8)
    assert nyud.train.task_weights == {"semseg": 1.0, "depth": 1.0, "normals": 10.0, "edge": 50.0}
    pascal = build_config("pascal_hrnet18")
    assert pascal.train.task_weights["human_parts"] == 2.0 and pascal.train.task_weights["saliency"] == 5.0


def test_release_recipes_per_model_family_and_poly_per_epoch():
    # PASCAL: single-task baselines SGD 0.01 / momentum 0.9 / 60 epochs, multi-task models Adam 1e-4 / 100
    st = build_config("pascal_hrnet18", **{"model.name": "single_task"})
    assert (st.train.optimizer, st.train.lr, st.train.momentum, st.train.epochs) == ("sgd", 0.01, 0.9, 60)
    assert st.train.weight_decay == 1e-4 and st.train.poly_step == "epoch"
    for model in ("mtinet", "padnet", "mtl"):
        mt = build_config("pascal_hrnet18", ["model.name=" + model])
        assert (mt.train.optimizer, mt.train.lr, mt.train.epochs) == ("adam", 1e-4, 100)
    # the command line still wins over the model's section; the resolved config has no 'models' key
    st3 = build_config("pascal_hrnet18", ["train.epochs=3"], **{"model.name": "single_task"})
    assert (st3.train.optimizer, st3.train.epochs) == ("sgd", 3)
    assert "models" not in st3.model_dump()
    nyud = build_config("nyud_hrnet18", **{"model.name": "single_task"})
    assert (nyud.train.optimizer, nyud.train.lr, nyud.train.epochs, nyud.train.poly_step) == (
        "adam",
        1e-4,
        100,
        "epoch",
    )
    assert build_config().train.poly_step == "iter"  # the synthetic default: one epoch, decays per iteration


def test_models_section_must_map_names_to_sections(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [single_task]\n")
    with pytest.raises(UsageError, match="'models' must map model names"):
        build_config(str(bad))


def test_overrides_are_typed():
    cfg = build_config(None, ["train.epochs=3", "train.lr=1e-2", "model.kwargs.fpm=false", "data.tasks=[semseg]"])
    assert cfg.train.epochs == 3 and cfg.train.lr == 0.01
    assert cfg.model.kwargs == {"fpm": False} and cfg.data.tasks == ["semseg"]
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])


@pytest.mark.parametrize(
    "item, fragment",
    [
        ("train.foo=1", "unknown config key 'train.foo'"),
        ("train.epochs=abc", "bad value for 'train.epochs'"),
        ("train.epochs=-2", "must be >= 1"),
        ("train.optimizer=lbfgs", "bad value for 'train.optimizer'"),
        ("noequals", "expected key=value"),
    ],
)
def test_bad_overrides_name_the_key(item, fragment):
    with pytest.raises(UsageError, match=fragment.replace("[", r"\[")) as e:
        build_config(None, [item])
    assert "\n" not in str(e.value)


def test_one_base_level(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("train:\n  epochs: 7\n  lr: 0.5\n")
    child = tmp_path / "child.yaml"
    child.write_text("base: base.yaml\ntrain:\n  lr: 0.25\n")
    cfg = build_config(str(child))
    assert (cfg.train.epochs, cfg.train.lr) == (7, 0.25)
    base.write_text("base: other.yaml\n")
    with pytest.raises(UsageError, match="one level at most"):
        build_config(str(child))


def test_malformed_yaml_names_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(UsageError, match=r"bad\.yaml: malformed YAML"):
        build_config(str(bad))


def test_hash_ignores_paths_and_device_but_not_hyperparameters():
    a = build_config(None, ["run.results=/tmp/x", "run.device=cpu", "data.root=/data"])
    b = build_config()
    c = build_config(None, ["train.lr=0.5"])
    assert a.hash() == b.hash() != c.hash()
