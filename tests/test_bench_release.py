"""``scripts/bench_models.py --against-release``: loading a release checkout from a path (with the shims for
what newer libraries removed), the parameter-count check, the interleaved timing. The tests build a tiny FAKE
release in tmp_path with the same entry points (utils/common_config.py: get_model, get_criterion, get_optimizer,
get_loss; configs/nyud/hrnet18/*.yml); nothing of the real release is needed or copied. The real checkout is
tested only where MTBENCH_RELEASE_DIR points to one."""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from _scripts import load_script

from mtbench import release_compare as rc
from mtbench.data.spec import get_dataset_spec
from mtbench.registry import get_task

MTL_PARAMS = 4_019_251  # mtbench's mtl on hrnet18 with NYUD semseg + depth heads (= the release's)

# A fake release: its models are one flat parameter of the size the recipe asks for (``fake_params``) and a
# 1x1 conv per task, so the parameter count is what the test chooses. Its imports and build exercise the shims:
# torchvision.models.utils and torch._six (gone from today's libraries), np.int (gone from numpy), and a file read
# relative to the working directory (as the release's hrnet_w18 reads models/model_info/hrnet_w18.yml).
FAKE_COMMON_CONFIG = """
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.utils import load_state_dict_from_url  # noqa: F401  (absent from today's torchvision)
from torch._six import string_classes  # noqa: F401  (absent from today's torch)
from utils.helper import marker


class Net(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.tasks = p.TASKS.NAMES
        self.aux = p.AUXILARY_TASKS.NAMES if "AUXILARY_TASKS" in p else []
        n_out = p.ALL_TASKS.NUM_OUTPUT
        self.heads = nn.ModuleDict({t: nn.Conv2d(3, n_out[t], 1) for t in self.tasks})
        rest = p["fake_params"] - sum(q.numel() for q in self.heads.parameters())
        self.flat = nn.Parameter(torch.zeros(np.int(rest)))

    def forward(self, x):
        out = {t: self.heads[t](x) + self.flat.sum() for t in self.tasks}
        for t in self.aux:
            out["initial_%s" % t] = F.avg_pool2d(out.get(t, x[:, :1]) * 1.0, 2)
        return out


def get_model(p):
    assert open("models/model_info/tiny.yml").read().strip() == "tiny", "not run from the checkout"
    assert marker == "fake release"
    assert p["backbone_kwargs"]["pretrained"] is False
    return Net(p)


def get_loss(p, task):
    if task == "semseg":
        return lambda out, label: F.cross_entropy(out, label[:, 0].long(), ignore_index=255)
    return lambda out, label: (out - label).abs().mean()


class Scheme(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, pred, gt):
        out = {t: get_loss(self.p, t)(pred[t], gt[t]) for t in self.p.TASKS.NAMES}
        out["total"] = sum(out.values())
        return out


def get_criterion(p):
    if p.get("fake_no_scheme"):
        raise ImportError("no loss schemes in this checkout")
    print("noise the release prints")
    return Scheme(p)


def get_optimizer(p, model):
    return torch.optim.Adam(model.parameters(), **p["optimizer_kwargs"])
"""


def _recipe(params: int, aux: bool = False, **extra) -> str:
    lines = [
        "setup: multi_task",
        "model: baseline",
        "backbone: hrnet_w18",
        "backbone_kwargs: {pretrained: True, dilated: False}",
        "optimizer: adam",
        "optimizer_kwargs: {lr: 0.0001, weight_decay: 0.0001}",
        "task_dictionary: {include_semseg: True, include_depth: True}",
        "loss_kwargs: {loss_scheme: baseline, loss_weights: {semseg: 1.0, depth: 1.0}}",
        f"fake_params: {params}",
    ]
    if aux:
        lines.append("auxilary_task_dictionary: {include_semseg: True, include_depth: True}")
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def make_fake_release(root: Path, mtl_params: int = MTL_PARAMS, **extra) -> Path:
    files = {
        "utils/__init__.py": "",
        "utils/helper.py": 'marker = "fake release"\n',
        "utils/common_config.py": FAKE_COMMON_CONFIG,
        "models/__init__.py": "",
        "models/model_info/tiny.yml": "tiny\n",
        "configs/nyud/hrnet18/multi_task_baseline.yml": _recipe(mtl_params, **extra),
        "configs/nyud/hrnet18/pad_net.yml": _recipe(7_019_056, aux=True),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    return root


def _pair(label: str) -> rc.Pair:
    return next(p for p in rc.PAIRS if p.label == label)


def _num_outputs(pair: rc.Pair) -> dict[str, int]:
    return get_dataset_spec("nyud").out_channels(list(pair.tasks + pair.aux_tasks))


def _bench_script():
    return load_script("bench_models.py", "bench_models_under_test")


def test_release_is_loaded_from_its_path_with_shims_and_leaves_no_trace(tmp_path, monkeypatch):
    root = make_fake_release(tmp_path / "release")
    # a module named like one of the release's packages, loaded before: shadowed during the build, then back
    ours = types.ModuleType("utils")
    monkeypatch.setitem(sys.modules, "utils", ours)
    cwd, path = os.getcwd(), list(sys.path)
    had = {name: name in sys.modules for name in ("torch._six", "torchvision.models.utils")}
    pair = _pair("mtl")
    model, criterion, opt, loss = rc.build_release(root, pair, _num_outputs(pair), torch.device("cpu"))
    assert sum(p.numel() for p in model.parameters()) == MTL_PARAMS
    assert loss == "release Scheme" and isinstance(opt, torch.optim.Adam)
    assert type(model).__module__ == "utils.common_config"  # the checkout's own class
    assert os.getcwd() == cwd and sys.path == path
    assert sys.modules["utils"] is ours and "utils.common_config" not in sys.modules and "models" not in sys.modules
    assert all((name in sys.modules) == was for name, was in had.items())
    assert "int" not in np.__dict__  # the numpy alias shim is gone again
    # the built objects keep working outside the scope
    out = model(torch.zeros(1, 3, 8, 8))
    assert set(out) == {"semseg", "depth"} and out["semseg"].shape == (1, 40, 8, 8)


def test_release_download_stub_refuses(tmp_path):
    root = make_fake_release(tmp_path / "release")
    with rc.release_imports(root):
        from torchvision.models.utils import load_state_dict_from_url

        if load_state_dict_from_url is rc._no_download:
            with pytest.raises(rc.ReleaseError, match="without pretrained weights"):
                load_state_dict_from_url("https://example.invalid/w.pth")


def test_not_a_release_is_a_one_line_error(tmp_path):
    with pytest.raises(rc.ReleaseError, match=r"no such directory"):
        rc.check_release_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(rc.ReleaseError, match=r"not a checkout of the MTI-Net release \(missing utils/common_config"):
        rc.check_release_dir(tmp_path / "empty")


def test_release_config_reads_the_checkouts_recipe(tmp_path):
    root = make_fake_release(tmp_path / "release")
    p = rc.release_config(root, _pair("padnet"), _num_outputs(_pair("padnet")))
    assert p.TASKS.NAMES == ["semseg", "depth"] and p.AUXILARY_TASKS.NAMES == ["semseg", "depth"]
    assert p.ALL_TASKS.NUM_OUTPUT == {"semseg": 40, "depth": 1} and p["depthloss"] == "l1"
    assert p["backbone_kwargs"] == {"pretrained": False, "dilated": False}
    assert p.loss_kwargs["loss_weights"] == {"semseg": 1.0, "depth": 1.0}


def test_parameter_mismatch_is_one_line():
    with pytest.raises(rc.ParamMismatch) as e:
        rc.check_params("padnet", 7_019_056, 7_019_057)
    assert str(e.value) == "padnet: parameter counts differ: release 7,019,056, mtbench 7,019,057 (+1); not timed"
    rc.check_params("padnet", 5, 5)


def test_time_interleaved_rotates_the_order_and_returns_per_side_times():
    calls: list[str] = []
    steps = {"release": lambda: calls.append("r"), "mtbench": lambda: calls.append("m")}
    times = rc.time_interleaved(steps, warmup=1, iters=4)
    assert calls == ["r", "m"] + ["r", "m", "m", "r", "r", "m", "m", "r"]
    assert {k: len(v) for k, v in times.items()} == {"release": 4, "mtbench": 4}
    res = rc.PairResult("x", {}, {"release": [4.0, 6.0, 5.0], "mtbench": [2.0, 3.0, 2.5]}, {})
    assert res.median_ms == {"release": 5.0, "mtbench": 2.5}
    assert res.ratios() == {"mtbench": 2.0}
    assert res.round_ratios("mtbench") == (2.0, 2.0, 2.0)
    res = rc.PairResult("x", {}, {"release": [4.0, 6.0, 5.0, 3.0, 8.0], "mtbench": [4.0, 3.0, 5.0, 1.0, 2.0]}, {})
    assert res.round_ratios("mtbench") == (1.0, 2.0, 3.0)


def test_targets_in_both_encodings_agree():
    pair = _pair("mtinet + edge,normals")
    n_out = _num_outputs(pair)
    batch = rc.make_batch(list(pair.tasks + pair.aux_tasks), n_out, (32, 32), 2, seed=1)
    rel = rc.release_targets(batch)
    assert rel["semseg"].shape == (2, 1, 32, 32) and torch.equal(rel["semseg"][:, 0].long(), batch["semseg"])
    invalid = batch["depth"] <= 0
    assert invalid.any() and bool((rel["depth"][invalid] == 255).all())
    assert torch.equal(rel["depth"][~invalid], batch["depth"][~invalid])
    bad_normals = (batch["normals"] == 0).all(dim=1)
    assert bool((rel["normals"].permute(0, 2, 3, 1)[bad_normals] == 255).all())
    assert torch.equal(rel["edge"], batch["edge"])


def test_compare_pair_times_both_sides_with_equal_params(tmp_path):
    root = make_fake_release(tmp_path / "release")
    res = rc.compare_pair(root, _pair("mtl"), (64, 64), 1, 0, 2, torch.device("cpu"))
    assert res.params == {"release": MTL_PARAMS, "mtbench": MTL_PARAMS}
    assert {k: len(v) for k, v in res.times.items()} == {"release": 2, "mtbench": 2}
    assert set(res.ratios()) == {"mtbench"} and math.isfinite(res.ratios()["mtbench"])
    assert res.loss == {"release": "release Scheme", "mtbench": "mtbench MultiTaskLoss"}


def test_compare_pair_falls_back_to_the_per_task_losses(tmp_path):
    root = make_fake_release(tmp_path / "release", fake_no_scheme="true")
    res = rc.compare_pair(root, _pair("mtl"), (64, 64), 1, 0, 1, torch.device("cpu"))
    assert res.loss["release"].startswith("release per-task losses, summed here")


def test_script_prints_ratios_and_reports_a_mismatch(tmp_path, capsys):
    bench = _bench_script()
    args = ["--input", "64x64", "--batch", "1", "--warmup", "0", "--iters", "1", "--device", "cpu"]
    root = make_fake_release(tmp_path / "ok")
    assert bench.main(["--against-release", str(root), "--models", "mtl", *args]) == 0
    out = capsys.readouterr().out
    assert "ratio" in out and "| mtl " in out and "4,019,251" in out
    bad = make_fake_release(tmp_path / "bad", mtl_params=MTL_PARAMS + 3)
    assert bench.main(["--against-release", str(bad), "--models", "mtl", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: mtl: parameter counts differ: release 4,019,254, mtbench 4,019,251 (-3); not timed"]
    assert bench.main(["--against-release", str(tmp_path / "nowhere"), *args]) == 2
    assert capsys.readouterr().err.startswith("error: --against-release")


def test_select_pairs():
    assert [p.label for p in rc.select_pairs("padnet,mtl")] == ["mtl", "padnet"]
    assert [p.label for p in rc.select_pairs("mtinet")] == ["mtinet", "mtinet + edge,normals"]
    with pytest.raises(rc.UsageError, match="--models nope: unknown"):
        rc.select_pairs("nope")


RELEASE_DIR = os.environ.get("MTBENCH_RELEASE_DIR")


@pytest.mark.skipif(not RELEASE_DIR, reason="set MTBENCH_RELEASE_DIR to a checkout of the MTI-Net release")
@pytest.mark.parametrize("label", [p.label for p in rc.PAIRS])
def test_real_release_builds_with_mtbench_parameter_counts(label):
    pair = _pair(label)
    res = rc.compare_pair(rc.check_release_dir(RELEASE_DIR), pair, (64, 64), 1, 0, 1, torch.device("cpu"))
    assert res.params["release"] == res.params["mtbench"]
    assert res.loss["release"].startswith("release ") and "per-task" not in res.loss["release"]


@pytest.mark.skipif(not RELEASE_DIR, reason="set MTBENCH_RELEASE_DIR to a checkout of the MTI-Net release")
def test_real_release_losses_equal_mtbench_task_losses():
    """Each NYUD task's loss: the release's (on its target encoding) equals mtbench's on the same prediction."""
    pair = _pair("mtinet + edge,normals")
    root = rc.check_release_dir(RELEASE_DIR)
    n_out = _num_outputs(pair)
    p = rc.release_config(root, pair, n_out)
    with rc.release_imports(root):
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            cc = importlib.import_module("utils.common_config")
            release_loss = {t: cc.get_loss(p, t) for t in rc.NYUD_TASKS}
    batch = rc.make_batch(list(rc.NYUD_TASKS), n_out, (32, 64), 2, seed=4)
    gt = rc.release_targets(batch)
    g = torch.Generator().manual_seed(0)
    for t in rc.NYUD_TASKS:
        pred = torch.randn(2, n_out[t], 32, 64, generator=g)
        ours = get_task(t).loss(pred, batch[t]).item()
        assert release_loss[t](pred, gt[t]).item() == pytest.approx(ours, rel=1e-5), t
