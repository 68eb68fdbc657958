"""MTI-Net and the release's parameter counts (the proof of faithful layers), deep supervision at every
scale, the FPM softmax grouping (paper vs release, the default) and the w/o-FPM ablation."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from mtbench.data.spec import get_dataset_spec
from mtbench.registry import create_model
from mtinet.modules import FeaturePropagation

NYUD = get_dataset_spec("nyud")
T2 = ["semseg", "depth"]


def build(model, tasks=T2, aux=(), **kw):
    torch.manual_seed(0)
    return create_model(
        model,
        tasks=tasks,
        aux_tasks=list(aux),
        out_channels=NYUD.out_channels(list(tasks) + list(aux)),
        backbone="hrnet18",
        **kw,
    )


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# NYUD (semseg 40 classes, depth; edge 1, normals 3), hrnet18: counts of the MTI-Net release's models.
RELEASE = [
    ("single_task", ["semseg"], [], 3_945_270),
    ("single_task", ["depth"], [], 3_934_701),
    ("mtl", T2, [], 4_019_251),
    ("padnet", T2, [], 7_019_056),
    ("mtinet", T2, [], 8_578_179),
    ("mtinet", T2, ["edge", "normals"], 14_838_121),
]


@pytest.mark.parametrize("model,tasks,aux,expected", RELEASE, ids=[f"{m}-{'+'.join(t + a)}" for m, t, a, _ in RELEASE])
def test_release_parameter_counts(model, tasks, aux, expected):
    assert n_params(build(model, tasks, aux)) == expected


def test_head_parameter_count_closed_form():
    # HRNet head: 1x1 conv 270->270 (bias), BN (2x270), 1x1 conv 270->40 (bias); backbone 3,860,720.
    assert 3_860_720 + (270 * 270 + 270) + 2 * 270 + (270 * 40 + 40) == 3_945_270


def test_deep_supervision_at_every_scale_with_aux_tasks():
    net = build("mtinet", T2, ["edge", "normals"]).train()
    out = net(torch.randn(1, 3, 64, 64))
    assert set(out) == {"semseg", "depth", "aux"}
    assert sorted(out["aux"]) == ["scale0", "scale1", "scale2", "scale3"]
    chans = {"semseg": 40, "depth": 1, "edge": 1, "normals": 3}
    for group in out["aux"].values():
        assert {t: p.shape for t, p in group.items()} == {t: (1, c, 64, 64) for t, c in chans.items()}
    # distillation targets only the main tasks, sources every task of A
    assert sorted(net.distill[0].attn) == sorted(T2)
    assert sorted(net.distill[0].attn["semseg"]) == ["depth", "edge", "normals"]


def test_fpm_softmax_switch_changes_outputs_not_parameters():
    paper = build("mtinet", fpm_softmax="paper").eval()
    release = build("mtinet", fpm_softmax="release").eval()
    assert n_params(paper) == n_params(release)
    release.load_state_dict(paper.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = paper(x), release(x)
    assert not torch.allclose(a["semseg"], b["semseg"])


class _Const(nn.Module):
    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        return self.value.expand(x.shape[0], -1, *x.shape[-2:])


class _First(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c = c

    def forward(self, x):
        return x[:, : self.c]


@pytest.mark.parametrize("mode", ["paper", "release"])
def test_fpm_softmax_grouping_closed_form(mode):
    # N=2 tasks, C=2: concat channels [a0, a1, b0, b1]; fixed logits replace the non-linear function.
    fpm = FeaturePropagation(["a", "b"], 2, softmax=mode)
    logits = torch.tensor([0.0, 3.0, 3.0, 1.0]).log1p()  # any values; compare with hand softmax
    fpm.nonlinear = _Const(logits.view(1, 4, 1, 1))
    fpm.reduce = _First(2)  # keep the weighted channels 0, 1
    fpm.se = nn.ModuleDict({"a": nn.Identity(), "b": nn.Identity()})
    fa = torch.tensor([2.0, 5.0]).view(1, 2, 1, 1)
    fb = torch.tensor([7.0, 11.0]).view(1, 2, 1, 1)
    out = fpm({"a": fa, "b": fb})
    L = logits.tolist()
    sm = lambda i, j: torch.softmax(torch.tensor([L[i], L[j]]), 0)  # noqa: E731
    if mode == "paper":  # softmax across tasks: channel c pairs (a_c, b_c) = indices (c, 2 + c)
        w0, w1 = sm(0, 2)[0], sm(1, 3)[0]
    else:  # release: groups of N adjacent channels of the concatenation: (0, 1), (2, 3)
        w0, w1 = sm(0, 1)[0], sm(0, 1)[1]
    expected_shared = torch.tensor([w0 * 2.0, w1 * 5.0])
    assert torch.allclose(out["a"].flatten(), expected_shared + fa.flatten())
    assert torch.allclose(out["b"].flatten(), expected_shared + fb.flatten())


def test_default_fpm_is_the_release_grouped_softmax():
    # N=2 tasks, C=2, default variant: the softmax runs over the concat's adjacent channel pairs (0,1), (2,3)
    fpm = FeaturePropagation(["a", "b"], 2)
    assert fpm.softmax == "release"
    logits = torch.tensor([0.3, -1.2, 2.0, 0.5])
    fpm.nonlinear = _Const(logits.view(1, 4, 1, 1))
    fpm.reduce = _First(2)
    fpm.se = nn.ModuleDict({"a": nn.Identity(), "b": nn.Identity()})
    fa, fb = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1), torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    out = fpm({"a": fa, "b": fb})
    e = logits.exp()
    w = torch.tensor([e[0] / (e[0] + e[1]), e[1] / (e[0] + e[1])])  # group (0, 1): channels a0, a1
    assert torch.allclose(out["a"].flatten(), w * torch.tensor([1.0, 2.0]) + fa.flatten())
    net = build("mtinet")
    assert net.fpm_softmax == "release" and all(m.softmax == "release" for m in net.fpm)
    assert net.protocol() == {"fpm": "softmax=release"}
    assert build("mtinet", fpm_softmax="official").fpm_softmax == "release"  # the old name still loads
    assert build("mtinet", fpm=False).protocol() == {"fpm": "none (w/o FPM ablation)"}


def test_without_fpm_ablation():
    net = build("mtinet", fpm=False)
    assert net.fpm is None
    # initial blocks then take only the backbone feature (C_s, not C_s + C_{s+1})
    assert net.initial[0].refine["semseg"][0].conv1.in_channels == 18
    assert n_params(net) < 8_578_179
    out = net.train()(torch.randn(1, 3, 64, 64))
    assert len(out["aux"]) == 4
