"""Backbones: channels, strides, parameter counts, name errors, local ImageNet checkpoints (no downloads)."""

from __future__ import annotations

import logging

import pytest
import timm
import torch

from mtbench.backbones import BACKBONES, build_backbone
from mtbench.errors import DataError, UsageError


@pytest.fixture(scope="module")
def hrnet18():
    return build_backbone("hrnet18", None)


def test_hrnet18_is_the_release_backbone(hrnet18):
    # MTI-Net release hrnet_w18 (HRNetV2-W18-Small-v2): 3,860,720 parameters, 4 branches.
    assert hrnet18.channels == [18, 36, 72, 144]
    assert sum(p.numel() for p in hrnet18.parameters()) == 3_860_720
    feats = hrnet18(torch.randn(2, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(2, 18, 16, 24), (2, 36, 8, 12), (2, 72, 4, 6), (2, 144, 2, 3)]
    # feature_location='' : no 'incre' modules (they would carry parameters the models never use)
    assert not any("incre" in k for k in hrnet18.state_dict())


@pytest.mark.parametrize(
    "name,channels", [("resnet18", [64, 128, 256, 512]), ("timm:convnext_atto", [40, 80, 160, 320])]
)
def test_other_backbones(name, channels):
    bb = build_backbone(name, None)
    assert bb.channels == channels
    feats = bb(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == channels
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]


def test_catalog_lists_backbones():
    assert set(BACKBONES) == {"hrnet18", "hrnet48", "resnet18", "resnet50"}
    assert all(isinstance(d, str) and d for d in BACKBONES.values())


def test_unknown_names_are_usage_errors():
    with pytest.raises(UsageError, match="did you mean 'hrnet18'"):
        build_backbone("hrnet19", None)
    with pytest.raises(UsageError, match="Unknown timm architecture 'no_such_net'"):
        build_backbone("timm:no_such_net", None)
    with pytest.raises(UsageError, match="no such file"):
        build_backbone("hrnet18", "/nonexistent/weights.pth")


def test_local_timm_checkpoint_loads_with_report(tmp_path, caplog):
    torch.manual_seed(0)
    cls = timm.create_model("hrnet_w18_small_v2")  # full classifier: incre/downsamp/final/classifier extra
    sd = cls.state_dict()
    path = tmp_path / "hrnet.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, path)  # DataParallel-style wrapper
    with caplog.at_level(logging.INFO, logger="mtbench.backbones.weights"):
        bb = build_backbone("hrnet18", str(path))
    own = bb.body.state_dict()
    assert all(torch.equal(own[k], sd[k]) for k in own)
    extra = len(sd) - len(own)
    assert extra == 126  # incre_modules, downsamp_modules, final_layer, classifier
    assert f"missing 0, unexpected {extra}" in caplog.text


def test_local_torchvision_resnet_checkpoint(tmp_path):
    import torchvision

    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(tv.state_dict(), path)
    from mtbench.backbones import load_local_weights

    bb = build_backbone("resnet18", None)
    report = load_local_weights(bb.body, path)
    assert report == {"loaded": len(bb.body.state_dict()), "missing": 0, "unexpected": 2, "shape_mismatch": 0}
    assert torch.equal(bb.body.state_dict()["layer4.1.conv2.weight"], tv.state_dict()["layer4.1.conv2.weight"])


def test_checkpoint_without_matches_is_an_error(tmp_path):
    path = tmp_path / "junk.pth"
    torch.save({"foo.weight": torch.zeros(3)}, path)
    with pytest.raises(DataError, match="junk.pth: no tensor matches"):
        build_backbone("hrnet18", str(path))
