"""Task losses and predictions on tiny hand-computed inputs."""

from __future__ import annotations

import math

import pytest
import torch

from mtbench.registry import get_task

NAN = float("nan")


def _softplus(x: float) -> float:
    """BCE of a logit against the *other* label: log(1 + e^x)."""
    return math.log1p(math.exp(x))


def _leaf(values, shape) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(shape).requires_grad_(True)


def _assert_zero_with_grad(loss: torch.Tensor, output: torch.Tensor) -> None:
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert output.grad is not None and torch.all(output.grad == 0)


@pytest.mark.parametrize("name", ["semseg", "human_parts"])
def test_cross_entropy_with_ignore(name: str):
    task = get_task(name)
    # pixel 0: logits (2, 0), label 0; pixel 1: logits (0, 1), label 1; pixel 2: label 255 (ignored)
    output = _leaf([[2.0, 0.0, 9.0], [0.0, 1.0, -9.0]], (1, 2, 1, 3))
    target = torch.tensor([[[0, 1, 255]]])
    expected = (_softplus(-2.0) + _softplus(-1.0)) / 2
    assert task.loss(output, target).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["semseg", "human_parts"])
def test_cross_entropy_all_ignored(name: str):
    task = get_task(name)
    output = _leaf([1.0, 2.0, 3.0, 4.0], (1, 2, 1, 2))
    _assert_zero_with_grad(task.loss(output, torch.full((1, 1, 2), 255)), output)


def test_depth_masked_l1():
    task = get_task("depth")
    output = _leaf([1.0, 2.0, 3.0, 4.0], (1, 1, 2, 2))
    target = torch.tensor([[[[0.0, 2.5], [NAN, 5.0]]]])  # valid: 2.5 and 5.0
    assert task.loss(output, target).item() == pytest.approx((0.5 + 1.0) / 2)
    output = _leaf([1.0, 2.0], (1, 1, 1, 2))
    _assert_zero_with_grad(task.loss(output, torch.tensor([[[[0.0, NAN]]]])), output)


def test_normals_l1_after_normalisation():
    task = get_task("normals")
    # pixel 0: (2, 0, 0) -> (1, 0, 0) vs (0, 1, 0): L1 = 2; pixel 1: (0, 0, 3) vs (0, 0, 1): 0;
    # pixel 2: zero target (invalid). The release's NormalsLoss: masked L1 summed over the valid
    # ELEMENTS (2 pixels x 3 components = 6), divided by their count: (2 + 0) / 6.
    output = _leaf([[2.0, 0.0, 7.0], [0.0, 0.0, 7.0], [0.0, 3.0, 7.0]], (1, 3, 1, 3))
    target = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).reshape(1, 3, 1, 3)
    assert task.loss(output, target).item() == pytest.approx((2.0 + 0.0) / 6)
    output = _leaf([1.0, 2.0, 3.0], (1, 3, 1, 1))
    _assert_zero_with_grad(task.loss(output, torch.zeros(1, 3, 1, 1)), output)


def test_normals_loss_equals_release_formula_on_random_input():
    # the release: n = |normalise(out)|, mask = label != 255 (element-wise), loss = Σ_mask |n - label| / #mask
    g = torch.Generator().manual_seed(3)
    output = torch.randn(2, 3, 5, 4, generator=g)
    target = torch.nn.functional.normalize(torch.randn(2, 3, 5, 4, generator=g), dim=1)
    target[0, :, 1, 2] = 0.0  # invalid pixels: zero vectors in mtbench, 255 in the release's files
    target[1, :, 4, :] = 0.0
    release_label = torch.where(target.norm(dim=1, keepdim=True) > 0, target, torch.full_like(target, 255.0))
    mask = release_label != 255
    n = output / output.norm(p=2, dim=1, keepdim=True)
    expected = (n[mask] - release_label[mask]).abs().sum() / mask.sum()
    assert int(mask.sum()) == 3 * (40 - 1 - 4)
    assert get_task("normals").loss(output, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_edge_balanced_bce_fixed_weight():
    task = get_task("edge")
    # logits 1, -1, 2, 5 with labels 1, 0, 0, 255: positive bce softplus(-1); negatives softplus(-1),
    # softplus(2); w = 0.95; divided by all 4 pixels of the batch (the release's size_average).
    output = _leaf([1.0, -1.0, 2.0, 5.0], (1, 1, 1, 4))
    target = torch.tensor([1.0, 0.0, 0.0, 255.0]).reshape(1, 1, 1, 4)
    expected = (0.95 * _softplus(-1.0) + 0.05 * (_softplus(-1.0) + _softplus(2.0))) / 4
    assert task.loss(output, target).item() == pytest.approx(expected, rel=1e-6)


def test_saliency_balanced_bce_batch_weight():
    task = get_task("saliency")
    output = _leaf([1.0, -1.0, 2.0, 5.0, 0.0, 0.0], (2, 1, 1, 3))
    target = torch.tensor([1.0, 0.0, 0.0, 255.0, 0.0, 1.0]).reshape(2, 1, 1, 3)
    # valid pixels over the whole batch: 5, of which 3 negative -> w = 3/5
    pos = _softplus(-1.0) + _softplus(-0.0)
    neg = _softplus(-1.0) + _softplus(2.0) + _softplus(0.0)
    expected = (0.6 * pos + 0.4 * neg) / 6
    assert task.loss(output, target).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["edge", "saliency"])
def test_bce_all_ignored(name: str):
    output = _leaf([1.0, -2.0], (1, 1, 1, 2))
    _assert_zero_with_grad(get_task(name).loss(output, torch.full((1, 1, 1, 2), 255.0)), output)


def test_predict_outputs():
    logits = torch.tensor([[0.0, 3.0], [1.0, -1.0], [2.0, 0.0]]).reshape(1, 3, 1, 2)
    assert get_task("semseg").predict(logits).tolist() == [[[2, 0]]]
    depth = torch.tensor([[[[1.5, -0.2]]]])
    assert torch.equal(get_task("depth").predict(depth), depth)
    normals = get_task("normals").predict(torch.tensor([3.0, 0.0, 4.0]).reshape(1, 3, 1, 1))
    assert normals.flatten().tolist() == pytest.approx([0.6, 0.0, 0.8])
    for name in ("edge", "saliency"):
        prob = get_task(name).predict(torch.tensor([[[[0.0, math.log(3.0)]]]]))
        assert prob.flatten().tolist() == pytest.approx([0.5, 0.75])


def test_out_channels():
    assert get_task("semseg").out_channels(21) == 21
    with pytest.raises(ValueError, match="number of classes"):
        get_task("human_parts").out_channels(None)
    assert [get_task(n).out_channels() for n in ("depth", "normals", "edge", "saliency")] == [1, 3, 1, 1]


def _random_target(name: str, g: torch.Generator) -> torch.Tensor:
    shape = (2, 1, 6, 5)
    if name in ("semseg", "human_parts"):
        t = torch.randint(0, 4, (2, 6, 5), generator=g)
        return t.masked_fill(torch.rand(2, 6, 5, generator=g) < 0.2, 255)
    if name == "depth":
        t = torch.rand(shape, generator=g) * 5
        t[0, 0, 0, :2] = 0.0
        t[1, 0, 3, 1] = NAN
        return t
    if name == "normals":
        t = torch.nn.functional.normalize(torch.randn(2, 3, 6, 5, generator=g), dim=1)
        t[0, :, 2, 2] = 0.0
        t[1, :, 0, 0] = NAN
        return t
    t = (torch.rand(shape, generator=g) < 0.3).float()  # edge, saliency: 255 = ignore
    return t.masked_fill(torch.rand(shape, generator=g) < 0.1, 255.0)


@pytest.mark.parametrize("name", ["semseg", "human_parts", "depth", "normals", "edge", "saliency"])
def test_losses_of_several_outputs_equal_loss_of_each_exactly(name: str):
    """``Task.losses`` (one target, its masks computed once; MultiTaskLoss's path for deep supervision) gives
    bit for bit the values and gradients of ``Task.loss`` called per output."""
    g = torch.Generator().manual_seed(7)
    task = get_task(name)
    target = _random_target(name, g)
    channels = {"semseg": 4, "human_parts": 4, "normals": 3}.get(name, 1)
    outs = [torch.randn(2, channels, 6, 5, generator=g, requires_grad=True) for _ in range(3)]
    twins = [o.detach().clone().requires_grad_(True) for o in outs]
    together = task.losses(outs, target)
    alone = [task.loss(o, target) for o in twins]
    for a, b in zip(together, alone):
        assert torch.equal(a, b)
    sum(together).backward()
    sum(alone).backward()
    assert all(torch.equal(o.grad, t.grad) for o, t in zip(outs, twins))


def test_depth_and_normals_losses_equal_boolean_indexing_exactly():
    """masked_select picks what boolean indexing picks, in the same order: the formulas before it, bit for bit."""
    from mtbench.metrics.depth import valid_depth
    from mtbench.tasks.normals import valid_normals

    g = torch.Generator().manual_seed(11)
    target = _random_target("depth", g)
    out = torch.randn(2, 1, 6, 5, generator=g)
    valid = valid_depth(target)
    assert torch.equal(get_task("depth").loss(out, target), (out[valid] - target[valid]).abs().mean())
    target = _random_target("normals", g)
    out = torch.randn(2, 3, 6, 5, generator=g)
    valid = valid_normals(target)
    diff = (torch.nn.functional.normalize(out, dim=1) - torch.nan_to_num(target)).abs().sum(dim=1)
    assert torch.equal(get_task("normals").loss(out, target), diff[valid].sum() / (3 * valid.sum()))


def test_multi_task_loss_sums_every_part_as_task_loss_does():
    from mtbench.engine.losses import MultiTaskLoss

    g = torch.Generator().manual_seed(5)
    batch = {t: _random_target(t, g) for t in ("semseg", "depth", "normals", "edge")}
    ch = {"semseg": 4, "depth": 1, "normals": 3, "edge": 1}
    outputs: dict = {t: torch.randn(2, ch[t], 6, 5, generator=g) for t in ("semseg", "depth")}
    outputs["aux"] = {f"scale{s}": {t: torch.randn(2, ch[t], 6, 5, generator=g) for t in ch} for s in range(2)}
    weights = {"semseg": 1.0, "depth": 2.0, "normals": 10.0, "edge": 50.0}
    total, parts = MultiTaskLoss(["semseg", "depth"], ["normals", "edge"], weights)(outputs, batch)
    expected = {t: get_task(t).loss(outputs[t], batch[t]) for t in ("semseg", "depth")}
    for group, preds in outputs["aux"].items():
        expected.update({f"{group}/{t}": get_task(t).loss(p, batch[t]) for t, p in preds.items()})
    assert list(parts) == list(expected) and all(torch.equal(parts[k], expected[k]) for k in parts)
    assert torch.equal(total, sum(weights[k.rsplit("/", 1)[-1]] * v for k, v in expected.items()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_valid_normals_equals_the_norm_rule_exactly(dtype, monkeypatch):
    """``valid_normals`` decides by the squared length away from the threshold and by the norm near it: the mask
    of ``isfinite(t).all(1) & (nan_to_num(t).norm(dim=1) > 0.5)`` for every pixel, edge cases included."""
    from mtbench.tasks.normals import valid_normals

    def reference(x: torch.Tensor) -> torch.Tensor:
        return torch.isfinite(x).all(dim=1) & (torch.nan_to_num(x).norm(dim=1) > 0.5)

    g = torch.Generator().manual_seed(2)
    unit = torch.nn.functional.normalize(torch.randn(3, 4000, generator=g, dtype=torch.float64), dim=0)
    lengths = [0.0, 1e-30, 1e-3, 0.25, 0.4999, 0.5, 1.0, 2.0, 1e30]
    lengths += [0.5 * (1 + k * e) for e in (1e-7, 1e-6, 1e-5, 2e-5) for k in (-1, 1)]  # near the threshold
    scale = torch.tensor(lengths, dtype=torch.float64).repeat(4000 // len(lengths) + 1)[:4000]
    t = (unit * scale).to(dtype)
    t[0, :5] = float("nan")
    t[1, 5:10] = float("inf")
    t[2, 10:15] = -float("inf")
    t = t.T.reshape(40, 100, 3).permute(2, 0, 1)[None]  # 1×3×40×100, pixel i = column i
    assert torch.equal(valid_normals(t), reference(t))

    away = torch.nn.functional.normalize(torch.randn(2, 3, 40, 100, generator=g), dim=1).to(dtype)
    away[0, :, 0, :50] = 0.0
    away[1, 0, 3, :7] = float("nan")
    expected = reference(away)
    if dtype != torch.float16:  # far from the threshold the squared length alone decides: no norm computed
        monkeypatch.setattr(torch.Tensor, "norm", lambda *a, **k: pytest.fail("norm computed"))
    assert torch.equal(valid_normals(away), expected)
