"""OpenMMLab extra: mmseg backbones and heads behind mtbench's contracts, and cross-checks against mmseg.

Tests marked ``openmmlab`` need the extra (``make openmmlab``) and are skipped without it; the spec
parser and the missing-extra message are tested always.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from conftest import tiny_overrides

from mtbench.backbones import build_backbone
from mtbench.errors import UsageError
from mtbench.metrics.segmentation import MeanIoU
from mtbench.openmmlab.common import parse_spec, sanitize_cfg
from mtbench.registry import create_model


def _have_openmmlab() -> bool:
    try:
        import mmcv.ops  # noqa: F401
        import mmseg.models  # noqa: F401
    except Exception:
        return False
    return True


HAVE = _have_openmmlab()
needs_extra = pytest.mark.skipif(not HAVE, reason="OpenMMLab extra not installed (run 'make openmmlab')")
TINY_MIT = "mmseg:MixVisionTransformer,embed_dims=8,num_heads=[1,2,4,8],num_layers=[1,1,1,1]"


# --- always ---------------------------------------------------------------------------------------


def test_parse_spec_splits_top_level_commas_and_reads_literals():
    target, kw = parse_spec(
        "mmseg:MixVisionTransformer,embed_dims=32,num_layers=[2,2,2,2],norm_cfg={'type':'BN'},act=gelu", "--backbone"
    )
    assert target == "MixVisionTransformer"
    assert kw == {"embed_dims": 32, "num_layers": [2, 2, 2, 2], "norm_cfg": {"type": "BN"}, "act": "gelu"}
    with pytest.raises(UsageError, match="not key=value"):
        parse_spec("mmseg:HRNet,oops", "--backbone")
    with pytest.raises(UsageError, match="expected mmseg:TYPE_OR_CONFIG"):
        parse_spec("mmseg:", "--backbone")


def test_sanitize_cfg_turns_syncbn_into_bn_and_drops_pretrained_init():
    cfg = {
        "type": "X",
        "pretrained": "open-mmlab://w",
        "norm_cfg": {"type": "SyncBN", "requires_grad": True},
        "init_cfg": {"type": "Pretrained", "checkpoint": "http://x"},
        "layers": [{"type": "SyncBN"}],
    }
    assert sanitize_cfg(cfg) == {
        "type": "X",
        "norm_cfg": {"type": "BN", "requires_grad": True},
        "layers": [{"type": "BN"}],
    }


def test_missing_extra_is_one_line_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mmcv.ops", None)  # import mmcv.ops -> ImportError
    for build in (
        lambda: build_backbone("mmseg:HRNet"),
        lambda: create_model(
            "mtl",
            tasks=["semseg"],
            aux_tasks=[],
            out_channels={"semseg": 3},
            backbone="resnet18",
            head="mmseg:ASPPHead",
        ),
    ):
        with pytest.raises(UsageError) as e:
            build()
        msg = str(e.value)
        assert "\n" not in msg and "make openmmlab" in msg and "pip install -e '.[openmmlab]'" in msg


def test_unknown_head_names_the_choices():
    with pytest.raises(UsageError, match="hrnet, mmseg:"):
        create_model(
            "mtl", tasks=["semseg"], aux_tasks=[], out_channels={"semseg": 3}, backbone="resnet18", head="aspp"
        )


# --- cross-checks (need the extra) -----------------------------------------------------------------


@pytest.mark.openmmlab
@needs_extra
@pytest.mark.parametrize("seed", [0, 1])
def test_miou_equals_mmseg_iou_metric(seed):
    from mmseg.evaluation.metrics import IoUMetric

    g = torch.Generator().manual_seed(seed)
    c = 6  # class 5 never appears in targets nor predictions: empty union
    ours, theirs = MeanIoU(c), IoUMetric(iou_metrics=["mIoU"], prefix="val")
    theirs.dataset_meta = {"classes": [f"c{k}" for k in range(c)]}
    areas = []
    for h, w in [(17, 23), (32, 32), (9, 40)]:  # variable image sizes, streamed one image at a time
        target = torch.randint(0, c - 1, (h, w), generator=g)
        target[torch.rand(h, w, generator=g) < 0.2] = 255  # ignored pixels
        pred = torch.where(
            torch.rand(h, w, generator=g) < 0.6, target.clamp(max=c - 2), torch.randint(0, c - 1, (h, w), generator=g)
        )
        ours.update(pred[None], target[None])
        sample = {"pred_sem_seg": {"data": pred[None]}, "gt_sem_seg": {"data": target[None]}}
        theirs.process({}, [sample])
        areas.append(IoUMetric.intersect_and_union(pred, target, c, 255))
    got = ours.compute()
    totals = [sum(a[i] for a in areas) for i in range(4)]
    iou = np.asarray(IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])["IoU"], dtype=np.float64)
    assert np.isnan(iou[c - 1]) and got[f"IoU_{c - 1}"] == 0.0
    tol = 1e-4  # percent; mmseg counts areas with float32 histograms
    for k in range(c - 1):
        assert got[f"IoU_{k}"] == pytest.approx(100 * iou[k], abs=tol)
    assert got["mIoU_nonempty"] == pytest.approx(100 * np.nanmean(iou), abs=tol)
    assert got["mIoU"] == pytest.approx(100 * np.nan_to_num(iou).sum() / c, abs=tol)
    summary = theirs.compute_metrics(theirs.results)  # mmseg's own path (rounds to 2 decimals)
    assert got["mIoU_nonempty"] == pytest.approx(summary["mIoU"], abs=0.005 + tol)
    assert got["pixel_acc"] == pytest.approx(summary["aAcc"], abs=0.005 + tol)


def _randomise_bn(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(0.5 + 0.5 * torch.rand(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))


@pytest.mark.openmmlab
@needs_extra
def test_timm_and_mmseg_hrnet_have_same_params_and_outputs_after_weight_transfer():
    from mmseg.models.utils import Upsample

    ours, theirs = build_backbone("hrnet18").eval(), build_backbone("mmseg:HRNet").eval()
    n_ours = sum(p.numel() for p in ours.parameters())
    assert n_ours == sum(p.numel() for p in theirs.parameters()) == 3_860_720
    assert theirs.channels == ours.channels == [18, 36, 72, 144]
    _randomise_bn(ours, 0)
    sd = ours.body.state_dict()
    assert list(sd) == list(theirs.body.state_dict())  # same parameter names, same order
    theirs.body.load_state_dict(sd)
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert (
        [t.shape for t in a]
        == [t.shape for t in b]
        == [(2, c, 64 // s, 96 // s) for c, s in zip([18, 36, 72, 144], (4, 8, 16, 32))]
    )
    # One documented difference: mmseg's HRNet upsamples bilinearly in the fusion layers, timm's (the
    # MTI-Net release's) with nearest neighbour; with mmseg switched to nearest the outputs are the same.
    assert not torch.allclose(a[0], b[0], rtol=1e-3, atol=1e-3 * float(a[0].abs().max()))
    ups = [m for m in theirs.modules() if isinstance(m, Upsample)]
    assert len(ups) == 22
    for m in ups:
        m.mode, m.align_corners = "nearest", None
    with torch.no_grad():
        b = theirs(x)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5 * float(u.abs().max()))


@pytest.mark.openmmlab
@needs_extra
def test_mit_backbone_contract_and_mmseg_heads_in_baselines():
    bb = build_backbone(TINY_MIT)
    assert bb.channels == [8, 16, 32, 64]
    feats = bb(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape[-2:]) for f in feats] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    m = create_model(
        "mtl",
        tasks=["semseg", "depth"],
        aux_tasks=[],
        out_channels={"semseg": 5, "depth": 1},
        backbone=TINY_MIT,
        head="mmseg:ASPPHead,channels=16,dilations=(1,2)",
    )
    assert m.heads["semseg"].cfg["in_index"] == 3 and m.heads["semseg"].cfg["in_channels"] == 64
    out = m(torch.randn(2, 3, 64, 64))
    assert out["semseg"].shape == (2, 5, 64, 64) and out["depth"].shape == (2, 1, 64, 64)
    (out["semseg"].mean() + out["depth"].mean()).backward()
    assert m.backbone.body.layers[0][0].projection.weight.grad.abs().sum() > 0
    st = create_model(
        "single_task",
        tasks=["semseg"],
        aux_tasks=[],
        out_channels={"semseg": 4},
        backbone=TINY_MIT,
        head="mmseg:SegformerHead,channels=16",
    )
    assert st.head.cfg["in_index"] == [0, 1, 2, 3] and st.head.cfg["in_channels"] == [8, 16, 32, 64]
    assert st(torch.randn(1, 3, 64, 64))["semseg"].shape == (1, 4, 64, 64)


@pytest.mark.openmmlab
@needs_extra
def test_config_file_and_mmseg_checkpoint(tmp_path):
    cfg = "mmseg:configs/hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py"  # bundled with mmsegmentation
    bb = build_backbone(cfg)
    assert bb.cfg["norm_cfg"]["type"] == "BN" and sum(p.numel() for p in bb.parameters()) == 3_860_720
    src = build_backbone("mmseg:HRNet")
    ckpt = {
        "meta": {"mmseg_version": "1.2.2", "hist": np.zeros(2)},
        "state_dict": {
            **{f"backbone.{k}": v for k, v in src.body.state_dict().items()},
            "decode_head.conv_seg.weight": torch.zeros(19, 270, 1, 1),
        },
    }
    torch.save(ckpt, tmp_path / "iter_40000.pth")
    loaded = build_backbone(cfg, pretrained=str(tmp_path / "iter_40000.pth"))
    for (k, v), w in zip(src.body.state_dict().items(), loaded.body.state_dict().values()):
        assert torch.equal(v, w), k
    with pytest.raises(UsageError, match="local checkpoint"):
        build_backbone("mmseg:HRNet", pretrained="timm")
    with pytest.raises(UsageError, match="no such config file"):
        build_backbone("mmseg:configs/nope.py")
    with pytest.raises(UsageError, match="strides"):
        build_backbone("mmseg:ResNetV1c,depth=18,dilations=(1,1,2,4),strides=(1,2,1,1)")
    head = create_model(
        "single_task", tasks=["semseg"], aux_tasks=[], out_channels={"semseg": 3}, backbone="hrnet18", head=cfg
    ).head  # the config's FCNHead, resized to our channels
    assert head.cfg["type"] == "FCNHead" and head.cfg["in_channels"] == [18, 36, 72, 144]


@pytest.mark.openmmlab
@needs_extra
@pytest.mark.parametrize("backbone", ["mmseg:HRNet", TINY_MIT])
def test_mtinet_trains_on_synthetic_with_mmseg_backbones(tmp_path, backbone):
    from mtbench.cli import main
    from mtbench.reporting.results import load_records

    main(
        [
            "run",
            "--model",
            "mtinet",
            "--backbone",
            backbone,
            *sum((["--set", s] for s in tiny_overrides(tmp_path, **{"data.n_train": 4, "data.n_val": 2})), []),
        ]
    )
    (r,) = load_records(tmp_path / "results")
    assert r.status == "complete" and r.backbone == backbone and r.model == "mtinet"
    assert 0 <= r.metrics["semseg"]["mIoU"] <= 100 and np.isfinite(r.metrics["depth"]["rmse"])


# --- checkpoints are data (README "Robustness"; the timm paths are in tests/test_untrusted_inputs.py) ----------


def _mmseg_run(tmp_path, pretrained, *extra: str) -> list[str]:
    return [
        "run",
        "--model",
        "mtl",
        "--tasks",
        "semseg,depth",
        "--aux-tasks",
        "none",
        "--backbone",
        "mmseg:HRNet",
        "--pretrained",
        str(pretrained),
        *extra,
        *sum((["--set", s] for s in tiny_overrides(tmp_path, **{"data.n_train": 4, "data.n_val": 2})), []),
    ]


def _one_line_exit_1(argv, capsys) -> str:
    from mtbench.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert e.value.code == 1 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.openmmlab
@needs_extra
@pytest.mark.parametrize("kind", ["path-touch", "os-system"])
def test_malicious_mmseg_checkpoint_runs_nothing(tmp_path, capsys, kind):
    from test_untrusted_inputs import PAYLOADS

    marker = tmp_path / "PWNED"
    src = build_backbone("mmseg:HRNet")
    path = tmp_path / "iter_40000.pth"
    torch.save(
        {
            "meta": {"mmseg_version": "1.2.2", "hook_msgs": PAYLOADS[kind](marker)},
            "state_dict": {f"backbone.{k}": v for k, v in src.body.state_dict().items()},
        },
        path,
    )
    line = _one_line_exit_1(_mmseg_run(tmp_path, path), capsys)
    assert str(path) in line and "unsafe content refused" in line and "--trust-checkpoint" in line, line
    assert not marker.exists()


@pytest.mark.openmmlab
@needs_extra
def test_real_format_mmseg_checkpoint_loads_as_data_and_with_trust(tmp_path, capsys):
    """A checkpoint as mmengine's runner writes it (meta with NumPy values, message_hub with HistoryBuffers,
    an early mmengine MessageHub object): its backbone.* weights load without --trust-checkpoint (the metadata
    becomes inert placeholders) and with it; metadata the safe loader does not know (an mmengine Config object)
    is refused naming the class, and loaded with --trust-checkpoint, noted in the record."""
    from mmengine.config import Config
    from mmengine.logging import HistoryBuffer, MessageHub
    from test_untrusted_inputs import mmseg_style_checkpoint

    from mtbench.cli import main
    from mtbench.reporting.results import load_records

    src = build_backbone("mmseg:HRNet")
    path = tmp_path / "iter_40000.pth"
    mmseg_style_checkpoint(path, src.body.state_dict(), HistoryBuffer, MessageHub)
    loaded = build_backbone("mmseg:HRNet", pretrained=str(path))
    for (k, v), w in zip(src.body.state_dict().items(), loaded.body.state_dict().values()):
        assert torch.equal(v, w), k
    main(_mmseg_run(tmp_path / "trusting", path, "--trust-checkpoint"))
    (r,) = load_records(tmp_path / "trusting" / "results")
    assert r.status == "complete" and not any("full unpickle" in n for n in r.notes)  # the safe load sufficed

    with_config = tmp_path / "with_config.pth"
    ck = torch.load(path, map_location="cpu", weights_only=False)  # our own file, built above
    ck["meta"]["cfg"] = Config(dict(model=dict(type="EncoderDecoder")))
    torch.save(ck, with_config)
    line = _one_line_exit_1(_mmseg_run(tmp_path / "plain", with_config), capsys)
    assert str(with_config) in line and "mmengine.config.config.Config" in line and "--trust-checkpoint" in line
    main(_mmseg_run(tmp_path / "trusted", with_config, "--trust-checkpoint"))
    (r,) = load_records(tmp_path / "trusted" / "results")
    assert f"checkpoint {with_config} loaded with a full unpickle (--trust-checkpoint)" in r.notes
