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
