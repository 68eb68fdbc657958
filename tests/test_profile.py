"""Profiler: closed-form params/GMACs, the release's GMACs (scaled from a reduced input), memory and
latency helpers, the Cost-compatible dict, and the `mtbench profile` command."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from mtbench.cli import main
from mtbench.data.spec import get_dataset_spec
from mtbench.errors import UsageError
from mtbench.profile import (count_gmacs, count_params, measure_latency, measure_train_peak_memory,
                             parse_input, parse_model_sets, profile_model)
from mtbench.registry import create_model
from mtbench.reporting.results import Cost

NYUD = get_dataset_spec("nyud")
T2 = ["semseg", "depth"]



def build(model, tasks=T2, aux=(), **kw):
    return create_model(model, tasks=list(tasks), aux_tasks=list(aux),
                        out_channels=NYUD.out_channels(list(tasks) + list(aux)), backbone="hrnet18", **kw)


def test_conv_closed_form():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Conv2d(8, 4, 1))
    assert count_params(net) == 3 * 8 * 9 + 8 * 4 + 4
    net.train()
    gmacs, unsupported = count_gmacs(net, (32, 64))
    assert gmacs == pytest.approx(32 * 64 * (8 * 3 * 9 + 4 * 8) / 1e9, rel=0, abs=1e-15)
    assert unsupported == {}
    assert net.training  # mode restored


def test_hrnet_head_closed_form():
    # single_task semseg minus its backbone at 64x64 = the head at 16x16 (256 px) + final resize to 64x64:
    # 1x1 270->270, BN (2/elem, eval), 1x1 270->40, bilinear upsample of 36+72+144 channels (4/output elem),
    # bilinear resize of 40 channels to 64x64.
    net = build("single_task", ["semseg"])
    total, _ = count_gmacs(net, (64, 64))
    backbone, _ = count_gmacs(net.backbone, (64, 64))
    px = 16 * 16
    head = 270 * 270 * px + 2 * 270 * px + 270 * 40 * px + 4 * (36 + 72 + 144) * px + 4 * 40 * 64 * 64
    assert round((total - backbone) * 1e9) == head


# GMACs at 480x640 of the MTI-Net release (NYUD, hrnet18). Every count is proportional to pixels except
# the SE linears (< 1e-5 GMACs), so 25 x GMACs(96x128) = GMACs(480x640).
RELEASE_GMACS = [
    ("single_task", ["semseg"], [], 11.56), ("single_task", ["depth"], [], 11.31), ("mtl", T2, [], 13.00),
    ("padnet", T2, [], 70.38), ("mtinet", T2, [], 17.36), ("mtinet", T2, ["edge", "normals"], 23.12),
]


@pytest.mark.parametrize("model,tasks,aux,expected", RELEASE_GMACS,
                         ids=[f"{m}-{'+'.join(t + a)}" for m, t, a, _ in RELEASE_GMACS])
def test_release_gmacs_within_one_percent(model, tasks, aux, expected):
    gmacs, _ = count_gmacs(build(model, tasks, aux), (96, 128))
    assert 25 * gmacs == pytest.approx(expected, rel=0.01)


def test_latency_memory_and_cost_dict():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    assert measure_latency(net, (32, 32), "cpu", warmup=1, iters=3) > 0
    mb, kind = measure_train_peak_memory(net, (32, 32), 2, "cpu")
    assert kind == "cpu_peak_rss" and mb > 10
    res = profile_model(net, (32, 32), "cpu", warmup=1, iters=2)
    cost = Cost(**res)  # keys match the record schema exactly (extra keys are forbidden there)
    assert cost.params == 3 * 4 * 9 + 4 and cost.input_size == (32, 32) and cost.mem_kind == "cpu_peak_rss"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_memory_and_latency():
    net = build("mtinet")
    res = profile_model(net, (256, 320), "cuda", gmacs=False, iters=5)
    assert res["mem_kind"] == "cuda_max_allocated_train" and res["peak_mem_mb"] > 0 and res["latency_ms"] > 0


def test_parsers():
    assert parse_input("480x640") == (480, 640)
    with pytest.raises(UsageError, match="--input 480"):
        parse_input("480")
    with pytest.raises(UsageError, match="not divisible by 32.*--input"):
        parse_input("100x64")
    assert parse_model_sets(["model.fpm=false", "model.fpm_softmax=official"]) == {"fpm": False, "fpm_softmax": "official"}
    with pytest.raises(UsageError, match="model.<option>"):
        parse_model_sets(["train.lr=1"])


def test_cli_profile_json(capsys):
    main(["profile", "--model", "mtinet", "--dataset", "nyud", "--aux-tasks", "edge,normals", "--input", "64x64",
          "--json", "--device", "cpu"])
    res = json.loads(capsys.readouterr().out)
    assert res["params"] == 14_838_121 and res["gmacs"] > 0 and res["input_size"] == [64, 64]
    assert res["tasks"] == T2 and res["aux_tasks"] == ["edge", "normals"]


def test_cli_profile_by_module(capsys):
    main(["profile", "--model", "mtl", "--input", "64x64", "--by-module", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "4,019,251" in out and "one multiply-add = one MAC" in out and "backbone" in out and "heads" in out


@pytest.mark.parametrize("args,msg", [
    (["--backbone", "hrnet19"], "Unknown backbone 'hrnet19'"),
    (["--tasks", "semseg,human_parts"], "not provided by dataset 'nyud'"),
    (["--input", "100x64"], "not divisible by 32"),
    (["--set", "model.nope=1"], "no option 'nope'"),
])
def test_cli_profile_errors_are_one_line(capsys, args, msg):
    with pytest.raises(SystemExit) as e:
        main(["profile", "--model", "mtl", "--device", "cpu", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err


def test_profile_uses_the_models_default_backbone():
    from mtbench.profile import profile_by_name

    res = profile_by_name("mtan", "nyud", input_hw=(64, 64), device="cpu")
    assert res["backbone"] == "resnet18" and res["params"] > 0 and res["peak_mem_mb"] is None
