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
from mtbench.profiling import (
    count_gmacs,
    count_params,
    measure_latency,
    measure_train_peak_memory,
    parse_input,
    peak_memory_mb,
    profile_model,
)
from mtbench.registry import create_model
from mtbench.reporting.results import Cost

NYUD = get_dataset_spec("nyud")
T2 = ["semseg", "depth"]


def build(model, tasks=T2, aux=(), **kw):
    return create_model(
        model,
        tasks=list(tasks),
        aux_tasks=list(aux),
        out_channels=NYUD.out_channels(list(tasks) + list(aux)),
        backbone="hrnet18",
        **kw,
    )


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
    ("single_task", ["semseg"], [], 11.56),
    ("single_task", ["depth"], [], 11.31),
    ("mtl", T2, [], 13.00),
    ("padnet", T2, [], 70.38),
    ("mtinet", T2, [], 17.36),
    ("mtinet", T2, ["edge", "normals"], 23.12),
]


@pytest.mark.parametrize(
    "model,tasks,aux,expected", RELEASE_GMACS, ids=[f"{m}-{'+'.join(t + a)}" for m, t, a, _ in RELEASE_GMACS]
)
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


def test_cli_profile_json(capsys):
    main(
        [
            "profile",
            "--model",
            "mtinet",
            "--dataset",
            "nyud",
            "--aux-tasks",
            "edge,normals",
            "--input",
            "64x64",
            "--json",
            "--device",
            "cpu",
        ]
    )
    res = json.loads(capsys.readouterr().out)
    assert res["params"] == 14_838_121 and res["gmacs"] > 0 and res["input_size"] == [64, 64]
    assert res["tasks"] == T2 and res["aux_tasks"] == ["edge", "normals"]


def test_cli_profile_by_module(capsys):
    main(["profile", "--model", "mtl", "--dataset", "nyud", "--input", "64x64", "--by-module", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "4,019,251" in out and "one multiply-add = one MAC" in out and "backbone" in out and "heads" in out


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--backbone", "hrnet19"], "Unknown backbone 'hrnet19'"),
        (["--dataset", "nyud", "--tasks", "semseg,human_parts"], "not provided by dataset 'nyud'"),
        (["--input", "100x64"], "not divisible by 32"),
        (["--set", "model.kwargs.nope=1"], "no option 'nope'"),
        (["--set", "model.fpm=false"], "unknown config key 'model.fpm'"),  # model options are model.kwargs.<key>
        (["--device", "tpu"], "--device tpu"),
    ],
)
def test_cli_profile_errors_are_one_line(capsys, args, msg):
    with pytest.raises(SystemExit) as e:
        main(["profile", "--model", "mtl", "--device", "cpu", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err


def test_cpu_peak_memory_is_rss_in_mib(monkeypatch):
    import resource
    import sys
    from types import SimpleNamespace

    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=3 * 2**20))
    monkeypatch.setattr(sys, "platform", "linux")  # ru_maxrss in KiB
    assert peak_memory_mb("cpu", "eval") == (3 * 1024.0, "cpu_peak_rss")
    monkeypatch.setattr(sys, "platform", "darwin")  # ru_maxrss in bytes
    assert peak_memory_mb("cpu", "train") == (3.0, "cpu_peak_rss")


def test_profile_builds_the_run_config(tmp_path, capsys, monkeypatch):
    """`mtbench profile` takes run's options (--config, --set with model.kwargs.<key>) and profiles the model
    that `mtbench run` trains with them: the same params and GMACs at the same input size as the run's record."""
    from conftest import tiny_overrides

    import mtbench.profiling as profiling
    from mtbench.config import build_config
    from mtbench.engine.run import run_experiment

    monkeypatch.setattr(profiling, "measure_latency", lambda *args, **kwargs: 1.0)  # not compared: time only
    sets = tiny_overrides(
        tmp_path,
        **{
            "model.kwargs.fpm": "false",
            "data.aux_tasks": "[edge]",
            "train.max_iters": 0,
            "run.profile": "true",
            "run.device": "cpu",
        },
    )
    ((record, _),) = run_experiment(build_config(None, sets))
    main(["profile", "--json", *(a for s in sets for a in ("--set", s))])
    res = json.loads(capsys.readouterr().out)
    assert (res["params"], res["gmacs"], res["input_size"]) == (record.cost.params, record.cost.gmacs, [64, 64])
    assert (res["model"], res["tasks"], res["aux_tasks"]) == ("mtinet", ["semseg", "depth"], ["edge"])
    assert record.config["model"]["kwargs"] == {"fpm": False}


def test_profile_backbone_default_is_the_runs(capsys):
    """No --backbone: the config's (hrnet18), as for `mtbench run`; a ResNet-only model says what to pass."""
    with pytest.raises(SystemExit) as e:
        main(["profile", "--model", "mtan", "--device", "cpu"])
    assert e.value.code == 2 and "--backbone resnet18" in capsys.readouterr().err
    main(["profile", "--model", "mtan", "--backbone", "resnet18", "--input", "64x64", "--device", "cpu", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert res["backbone"] == "resnet18" and res["params"] > 0 and res["peak_mem_mb"] is None
    assert res["aux_tasks"] == []  # the recipe's auxiliary tasks are dropped for a model that takes none, as in run


def test_peak_memory_kind_names_what_ran(tmp_path, monkeypatch):
    """One peak-memory helper: CUDA kinds name the phase; a run records 'train', `mtbench eval` 'eval'."""
    from conftest import tiny_overrides

    import mtbench.engine.run as engine_run
    from mtbench.config import build_config
    from mtbench.engine.run import eval_run, run_experiment

    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 5 * 2**20)
    assert peak_memory_mb("cuda", "eval") == (5.0, "cuda_max_allocated_eval")
    # patched where the engine calls them (it imports both from mtbench.profiling)
    monkeypatch.setattr(engine_run, "peak_memory_mb", lambda device, phase: (1.0, f"test_{phase}"))
    monkeypatch.setattr(engine_run, "profile_model", lambda *args, **kwargs: {})  # params etc.: not asked here
    sets = tiny_overrides(
        tmp_path, **{"model.name": "mtl", "train.max_iters": 0, "run.profile": "true", "run.device": "cpu"}
    )
    ((record, _),) = run_experiment(build_config(None, sets))
    assert record.cost.mem_kind == "test_train"
    evaluated, _ = eval_run(tmp_path / "runs" / record.id)
    assert evaluated.cost.mem_kind == "test_eval"
