"""Cross-stitch and NDDR-CNN start from trained single-task runs (the release's two-stage recipe), their
fusion units learn at 100× the learning rate, NDDR's BN momentum is 0.05."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_overrides

from mtbench.config import build_config
from mtbench.engine.optim import build_optimizer
from mtbench.engine.run import run_experiment
from mtbench.errors import UsageError
from mtbench.registry import create_model

TASKS = ["semseg", "depth"]
OUT = {"semseg": 10, "depth": 1}


@pytest.fixture(scope="module")
def single_task_runs(module_tmp):
    """Two tiny single-task resnet18 runs (semseg, depth): their run folders."""
    tmp = module_tmp("st")
    cfg = build_config(
        None, [*tiny_overrides(tmp), "model.backbone=resnet18", "train.max_iters=1"], **{"model.name": "single_task"}
    )
    return {r.tasks[0]: tmp / "runs" / r.id for r, _ in run_experiment(cfg)}


@pytest.mark.parametrize("model", ["cross_stitch", "nddr_cnn"])
def test_task_networks_start_from_the_single_task_weights(single_task_runs, model):
    from mtbench.engine.checkpoint import load_checkpoint

    net = create_model(
        model,
        tasks=TASKS,
        aux_tasks=[],
        out_channels=OUT,
        backbone="resnet18",
        init_from=[str(single_task_runs["depth"]), str(single_task_runs["semseg"])],
    )
    for t in TASKS:
        st = load_checkpoint(single_task_runs[t] / "checkpoint.pt")["model"]
        # stage 0 = stem + layer1, stage 3 = layer4; the head is the same multi-scale head
        assert torch.equal(net.nets[t][0][0].weight, st["backbone.body.conv1.weight"])
        assert torch.equal(net.nets[t][0][1].running_mean, st["backbone.body.bn1.running_mean"])
        assert torch.equal(net.nets[t][3][1].conv2.weight, st["backbone.body.layer4.1.conv2.weight"])
        head = {k[len("head.") :]: v for k, v in st.items() if k.startswith("head.")}
        assert all(torch.equal(v, head[k]) for k, v in net.heads[t].state_dict().items())
    assert not torch.equal(net.nets["semseg"][0][0].weight, net.nets["depth"][0][0].weight)
    assert net.protocol() == {"init": "single-task checkpoints", "unit_lr": "100x"}


def test_the_same_through_the_config_and_a_run(single_task_runs, tmp_path):
    ids = ",".join(str(p) for p in single_task_runs.values())
    cfg = build_config(
        None,
        [*tiny_overrides(tmp_path), "model.backbone=resnet18", "train.max_iters=1", f"model.kwargs.init_from={ids}"],
        **{"model.name": "nddr_cnn"},
    )
    [(record, _)] = run_experiment(cfg)
    assert record.protocol["init"] == "single-task checkpoints" and record.protocol["unit_lr"] == "100x"
    assert record.config["model"]["kwargs"]["init_from"] == ids


@pytest.mark.parametrize("model", ["cross_stitch", "nddr_cnn"])
def test_fusion_units_learn_at_100x(model):
    net = create_model(model, tasks=TASKS, aux_tasks=[], out_channels=OUT, backbone="resnet18")
    cfg = build_config(None, ["train.lr=1e-3", "train.optimizer=sgd"]).train
    opt = build_optimizer(net, cfg)
    unit_ids = {id(p) for p in net.units.parameters()}
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3, 0.1])
    assert {id(p) for p in opt.param_groups[1]["params"]} == unit_ids
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(net.parameters()))
    one = create_model(model, tasks=TASKS, aux_tasks=[], out_channels=OUT, backbone="resnet18", unit_lr_mult=1)
    assert len(build_optimizer(one, cfg).param_groups) == 1


def test_nddr_bn_momentum_is_the_release_s():
    net = create_model("nddr_cnn", tasks=TASKS, aux_tasks=[], out_channels=OUT, backbone="resnet18")
    bns = [m for m in net.units.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 4 * len(TASKS) and all(m.momentum == 0.05 for m in bns)


def test_init_from_errors_are_one_line(single_task_runs, tmp_path):
    def make(init_from, **kw):
        return create_model(
            "cross_stitch", tasks=TASKS, aux_tasks=[], out_channels=OUT, backbone="resnet18", init_from=init_from, **kw
        )

    with pytest.raises(UsageError, match="no single-task checkpoint for depth"):
        make([str(single_task_runs["semseg"])])
    with pytest.raises(UsageError, match="two checkpoints for 'semseg'"):
        make([str(single_task_runs["semseg"])] * 2)
    with pytest.raises(UsageError, match="neither a checkpoint file, a run folder nor a run id"):
        make(["no-such-run"])
    with pytest.raises(UsageError, match="backbone 'resnet18' differs from this model's 'resnet50'"):
        create_model(
            "cross_stitch",
            tasks=TASKS,
            aux_tasks=[],
            out_channels=OUT,
            backbone="resnet50",
            init_from=[str(p) for p in single_task_runs.values()],
        )
    with pytest.raises(UsageError, match="not both"):
        make([str(p) for p in single_task_runs.values()], pretrained=True)
