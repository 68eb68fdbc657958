"""Every registered model: builds on CPU, output contract (shapes, aux only in training), every parameter
gets a gradient from the total loss (DDP needs this), and one-line errors for bad arguments. Parametrised
over list_models() and each model's descriptor (model_info), so a new model is picked up as registered."""

from __future__ import annotations

import pytest
import torch

from mtbench.data.spec import get_dataset_spec
from mtbench.errors import UsageError
from mtbench.registry import create_model, list_models, model_info

SPEC = get_dataset_spec("synthetic")  # semseg 10 classes, human_parts 7, all six tasks
ONE = ["semseg"]
TWO = ["semseg", "depth"]
ALL = ["semseg", "depth", "normals", "edge", "saliency", "human_parts"]
# The in-tree models' descriptors: (aux tasks, one net per task, default backbone).
IN_TREE = {
    "single_task": (False, True, "hrnet18"),
    "mtl": (False, False, "hrnet18"),
    "padnet": (True, False, "hrnet18"),
    "mtinet": (True, False, "hrnet18"),
    "cross_stitch": (False, False, "resnet18"),
    "nddr_cnn": (False, False, "resnet18"),
    "mtan": (False, False, "resnet18"),
}


def task_sets(model: str) -> list[tuple[list[str], list[str]]]:
    if model_info(model).one_net_per_task:
        return [(["semseg"], []), (["depth"], []), (["normals"], [])]
    return [(TWO, []), (ALL, []), (TWO, ["normals", "edge"])]


def some_tasks(model: str) -> list[str]:
    return ONE if model_info(model).one_net_per_task else TWO


def default_backbone(model: str) -> str:
    """The model's own default (ResNet-only models default to resnet18)."""
    return model_info(model).backbones.default


CASES = [(m, t, a) for m in list_models() for t, a in task_sets(m)]


def build(model: str, tasks: list[str], aux: list[str], **kw):
    torch.manual_seed(0)
    return create_model(
        model,
        tasks=tasks,
        aux_tasks=aux,
        out_channels=SPEC.out_channels(tasks + aux),
        backbone=default_backbone(model),
        pretrained=None,
        **kw,
    )


def flatten(out):
    if isinstance(out, dict):
        return [t for v in out.values() for t in flatten(v)]
    return [out]


@pytest.mark.parametrize("model,tasks,aux", CASES, ids=[f"{m}-{'+'.join(t)}{'-aux' if a else ''}" for m, t, a in CASES])
def test_contract_and_gradients(model, tasks, aux):
    info = model_info(model)
    if aux and not info.aux_tasks:  # documented: models without deep supervision reject auxiliary tasks
        with pytest.raises(UsageError, match="would be ignored"):
            build(model, tasks, aux)
        return
    net = build(model, tasks, aux).train()
    x = torch.randn(2, 3, 64, 64)
    out = net(x)
    expect = SPEC.out_channels(tasks + aux)
    assert set(out) - {"aux"} == set(tasks)
    for t in tasks:
        assert out[t].shape == (2, expect[t], 64, 64)
        assert torch.isfinite(out[t]).all()
    for group in out.get("aux", {}).values():
        assert set(group) == set(tasks + aux)
        for t, p in group.items():
            assert p.shape == (2, expect[t], 64, 64)
    if info.aux_tasks:  # deep supervision: the only way auxiliary tasks reach the loss
        assert "aux" in out
    sum(o.float().mean() for o in flatten(out)).backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    net.eval()
    with torch.no_grad():
        ev = net(x)
    assert set(ev) == set(tasks)  # no aux at inference


@pytest.mark.parametrize("model", list_models())
def test_bad_input_size_names_input_option(model):
    net = build(model, some_tasks(model), [])
    with pytest.raises(UsageError, match="not divisible by 32.*--input"):
        net(torch.randn(1, 3, 48, 64))


@pytest.mark.parametrize("model", list_models())
def test_argument_errors(model):
    with pytest.raises(UsageError, match="needs at least one task"):
        build(model, [], [])
    with pytest.raises(UsageError, match="no output channel count for task"):
        create_model(model, tasks=["semseg"], aux_tasks=[], out_channels={"depth": 1})
    # a name no model takes is unknown to the backbone builder, or outside a model's own backbones
    bad_backbone = "Unknown backbone" if model_info(model).backbones.accepts("vgg") else "needs .*backbone"
    with pytest.raises(UsageError, match=bad_backbone):
        create_model(model, tasks=["semseg"], aux_tasks=[], out_channels={"semseg": 3}, backbone="vgg")
    with pytest.raises(UsageError, match=r"no option 'bogus' \(from --set model\.kwargs\.bogus=\.\.\.\)"):
        create_model(model, tasks=["semseg"], aux_tasks=[], out_channels={"semseg": 3}, bogus=1)


def test_in_tree_descriptors():
    assert set(IN_TREE) <= set(list_models())
    for model, (aux, one_net, backbone) in IN_TREE.items():
        info = model_info(model)
        assert (info.aux_tasks, info.one_net_per_task, info.backbones.default) == (aux, one_net, backbone)
        assert info.name == model and info.description


@pytest.mark.parametrize("model", list_models())
def test_descriptor_is_enforced(model):
    info = model_info(model)
    if not info.aux_tasks:
        with pytest.raises(UsageError, match="auxiliary tasks .* would be ignored"):
            build(model, ONE, ["edge"])
    else:
        with pytest.raises(UsageError, match="both as main"):
            build(model, TWO, ["depth"])
    if info.one_net_per_task:
        with pytest.raises(UsageError, match="exactly one task"):
            build(model, TWO, [])
    if not info.backbones.accepts("hrnet18"):
        with pytest.raises(UsageError, match=f"needs .*backbone.*--backbone {info.backbones.default}"):
            create_model(
                model,
                tasks=some_tasks(model),
                aux_tasks=[],
                out_channels=SPEC.out_channels(some_tasks(model)),
                backbone="hrnet18",
            )


def test_resnet_only_models_reject_hrnet():
    for model in ("cross_stitch", "nddr_cnn", "mtan"):
        with pytest.raises(UsageError, match="needs a ResNet backbone.*--backbone resnet18"):
            create_model(model, tasks=TWO, aux_tasks=[], out_channels=SPEC.out_channels(TWO), backbone="hrnet18")


def test_resnet_backbone_works_with_every_model():
    for model in list_models():
        if not model_info(model).backbones.accepts("resnet18"):
            continue
        tasks = some_tasks(model)
        net = create_model(
            model, tasks=tasks, aux_tasks=[], out_channels=SPEC.out_channels(tasks), backbone="resnet18"
        ).eval()
        with torch.no_grad():
            out = net(torch.randn(1, 3, 64, 64))
        assert out["semseg"].shape == (1, 10, 64, 64)


@pytest.mark.parametrize("block", ["BasicBlock", "Bottleneck"])
@pytest.mark.parametrize("in_ch", [8, 16])
def test_residual_blocks_add_in_place_with_the_numbers_of_an_out_of_place_add(block, in_ch):
    """The blocks add the shortcut into the BatchNorm output in place: values and gradients are those of
    ``relu(bn(...) + shortcut(x))`` bit for bit (identity shortcut at 16 -> 16, projection at 8 -> 16)."""
    import copy

    import mtbench.nn.blocks as blocks

    torch.manual_seed(0)
    net = getattr(blocks, block)(in_ch, 16).train()
    ref = copy.deepcopy(net)
    x = torch.randn(2, in_ch, 6, 5, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)

    def out_of_place(m, inp):
        if block == "BasicBlock":
            out = m.bn2(m.conv2(m.relu(m.bn1(m.conv1(inp)))))
        else:
            out = m.relu(m.bn1(m.conv1(inp)))
            out = m.bn3(m.conv3(m.relu(m.bn2(m.conv2(out)))))
        return torch.relu(out + m.shortcut(inp))

    y, y_ref = net(x), out_of_place(ref, x_ref)
    assert torch.equal(y, y_ref)
    w = torch.randn(y.shape)
    (y * w).sum().backward()
    (y_ref * w).sum().backward()
    assert torch.equal(x.grad, x_ref.grad)
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(net.parameters(), ref.parameters()))
