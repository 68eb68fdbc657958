"""Shared run folders, checkpoints and other inputs are data: nothing in them runs (README "Robustness").

A malicious checkpoint (a pickle whose payload would create a marker file) given to ``eval``, ``run --resume``,
``--pretrained``, ``init_from`` or ``checkpoint convert`` is refused in one line naming the file (exit 1) and
the marker never appears; ``--trust-checkpoint`` allows a full unpickle and the record says so. Old-format
mtbench checkpoints are refused with a line saying how to proceed, and converted once they resume exactly.
Records, YAML configs, ``.npy`` and ``.mat`` files are checked the same way. (The mmseg ``--pretrained`` path
is in tests/test_openmmlab.py, marked ``openmmlab``.)
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import shlex
import shutil
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line_error, tiny_overrides

from mtbench.cli import main
from mtbench.config import build_config, dump_yaml
from mtbench.engine.checkpoint import load_checkpoint, numpy_rng_from_plain, python_rng_from_plain, save_checkpoint
from mtbench.reporting.results import RunRecord, load_records, save_record

# ---- payloads ------------------------------------------------------------------------------------------


class TouchPayload:
    """Unpickling this calls pathlib.Path.touch(marker)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


class SystemPayload:
    """Unpickling this runs ``touch marker`` through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


PAYLOADS = {"path-touch": TouchPayload, "os-system": SystemPayload}


def _sets(items: list[str]) -> list[str]:
    return sum((["--set", s] for s in items), [])


def _one_line_error(argv: list[str], capsys, code: int = 1) -> str:
    return one_line_error(argv, capsys, code)


def _assert_refused(line: str, path: Path, marker: Path) -> None:
    assert str(path) in line, line
    assert "unsafe content refused" in line and "--trust-checkpoint" in line, line
    assert not marker.exists(), "the payload ran"


def _run_folder(tmp: Path, name: str, **sets) -> Path:
    """A run folder with a valid config.yaml for a tiny mtl run (no checkpoint yet)."""
    run_dir = tmp / "runs" / name
    run_dir.mkdir(parents=True)
    cfg = build_config(
        None,
        tiny_overrides(tmp, **{"model.name": "mtl", "data.tasks": "[semseg,depth]", "data.aux_tasks": "[]", **sets}),
    )
    (run_dir / "config.yaml").write_text(dump_yaml(cfg))
    return run_dir


def _evil_checkpoint(path: Path, payload: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": "mtbench-checkpoint",
            "version": 2,
            "model": {"w": torch.zeros(2)},
            "train_state": {"epoch": 1},
            "note": payload,
        },
        path,
    )
    return path


@pytest.fixture(params=sorted(PAYLOADS))
def payload(request, tmp_path):
    marker = tmp_path / "PWNED"
    return PAYLOADS[request.param](marker), marker


# ---- malicious checkpoints are refused everywhere --------------------------------------------------------


def test_eval_of_a_malicious_run_folder_runs_nothing(tmp_path, payload, capsys):
    obj, marker = payload
    run_dir = _run_folder(tmp_path, "shared-run")
    ck = _evil_checkpoint(run_dir / "checkpoint.pt", obj)
    _assert_refused(_one_line_error(["eval", str(run_dir)], capsys), ck, marker)
    # a run folder cannot grant itself trust: its config.yaml's run.trust_checkpoint is ignored
    text = (run_dir / "config.yaml").read_text().replace("trust_checkpoint: false", "trust_checkpoint: true")
    (run_dir / "config.yaml").write_text(text)
    _assert_refused(_one_line_error(["eval", str(run_dir)], capsys), ck, marker)


def test_resume_of_a_malicious_run_folder_runs_nothing(tmp_path, payload, capsys):
    obj, marker = payload
    run_dir = _run_folder(tmp_path, "shared-run")
    ck = _evil_checkpoint(run_dir / "checkpoint.pt", obj)
    _assert_refused(_one_line_error(["run", "--resume", str(run_dir)], capsys), ck, marker)


def test_malicious_pretrained_timm_checkpoint_runs_nothing(tmp_path, payload, capsys):
    obj, marker = payload
    path = tmp_path / "imagenet.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "args": obj}, path)
    argv = [
        "run",
        "--model",
        "mtl",
        "--tasks",
        "semseg,depth",
        "--aux-tasks",
        "none",
        "--pretrained",
        str(path),
        *_sets(tiny_overrides(tmp_path)),
    ]
    _assert_refused(_one_line_error(argv, capsys), path, marker)


def test_malicious_init_from_checkpoint_runs_nothing(tmp_path, payload, capsys):
    obj, marker = payload
    path = _evil_checkpoint(tmp_path / "semseg.pt", obj)
    argv = [
        "run",
        "--model",
        "cross_stitch",
        "--tasks",
        "semseg,depth",
        "--aux-tasks",
        "none",
        "--backbone",
        "resnet18",
        "--set",
        f"model.kwargs.init_from={path},{path}",
        *_sets(tiny_overrides(tmp_path)),
    ]
    _assert_refused(_one_line_error(argv, capsys), path, marker)


def test_checkpoint_convert_without_trust_runs_nothing(tmp_path, payload, capsys):
    obj, marker = payload
    path = _evil_checkpoint(tmp_path / "checkpoint.pt", obj)
    _assert_refused(_one_line_error(["checkpoint", "convert", str(path)], capsys), path, marker)


# ---- --trust-checkpoint: a full unpickle, on the user's word, noted in the record -------------------------


def test_trust_checkpoint_allows_a_full_unpickle_and_the_record_says_so(tmp_path, capsys):
    from mtbench.backbones import build_backbone

    body = build_backbone("hrnet18").body.state_dict()
    path = tmp_path / "hrnet_trained_elsewhere.pth"
    torch.save({"state_dict": body, "saved": datetime.datetime(2024, 1, 2)}, path)  # a harmless unknown class
    argv = [
        "run",
        "--model",
        "mtl",
        "--tasks",
        "semseg,depth",
        "--aux-tasks",
        "none",
        "--pretrained",
        str(path),
        *_sets(tiny_overrides(tmp_path)),
    ]
    line = _one_line_error(argv, capsys)
    assert str(path) in line and "datetime.datetime" in line and "--trust-checkpoint" in line
    main([*argv, "--trust-checkpoint"])
    (record,) = load_records(tmp_path / "results")
    assert f"checkpoint {path} loaded with a full unpickle (--trust-checkpoint)" in record.notes
    assert record.config["run"]["trust_checkpoint"] is True
    plain = build_config(None, tiny_overrides(tmp_path, **{"model.pretrained": str(path)}))
    trusting = build_config(
        None, tiny_overrides(tmp_path, **{"model.pretrained": str(path), "run.trust_checkpoint": "true"})
    )
    assert trusting.run.trust_checkpoint and plain.hash() == trusting.hash()  # not part of the config hash


def test_trust_checkpoint_comes_from_the_command_line_only(tmp_path):
    recipe = tmp_path / "shared.yaml"
    recipe.write_text("base: synthetic_default\nrun:\n  trust_checkpoint: true\n")
    assert build_config(str(recipe)).run.trust_checkpoint is False
    assert build_config(str(recipe), ["run.trust_checkpoint=true"]).run.trust_checkpoint is True
    assert build_config(None, **{"run.trust_checkpoint": True}).run.trust_checkpoint is True


# ---- foreign checkpoints with metadata load as data ------------------------------------------------------


def _mmengine_classes(monkeypatch):
    """mmengine's HistoryBuffer and MessageHub: the real ones when installed, else stand-ins pickled under
    the same module paths (registered only while saving)."""
    try:
        from mmengine.logging import HistoryBuffer, MessageHub

        return HistoryBuffer, MessageHub, lambda: None
    except ImportError:
        pass

    class HistoryBuffer:  # as mmengine 0.10.7's: its state holds the statistics methods, getattr(cls, 'min')...
        _statistics_methods: dict = {}

        def __init__(self, log_history=(), count_history=(), max_length=1000000):
            self.max_length = max_length
            self._statistics_methods.setdefault("min", HistoryBuffer.min)
            self._statistics_methods.setdefault("mean", HistoryBuffer.mean)
            self._log_history, self._count_history = np.array(log_history), np.array(count_history)

        def min(self):
            return self._log_history.min()

        def mean(self):
            return self._log_history.mean()

        def __getstate__(self):
            self.__dict__.update(statistics_methods=self._statistics_methods)
            return self.__dict__

    class MessageHub:
        def __init__(self, name, log_scalars=None, runtime_info=None, resumed_keys=None):
            self.instance_name = name
            self._log_scalars, self._runtime_info = log_scalars or OrderedDict(), runtime_info or OrderedDict()
            self._resumed_keys = resumed_keys or OrderedDict()

    mods = {}
    for cls, mod in ((HistoryBuffer, "mmengine.logging.history_buffer"), (MessageHub, "mmengine.logging.message_hub")):
        cls.__module__, cls.__qualname__ = mod, cls.__name__
        for f in vars(cls).values():
            if callable(f) and hasattr(f, "__qualname__"):
                f.__module__, f.__qualname__ = mod, f"{cls.__name__}.{f.__name__}"
        mods[mod] = types.ModuleType(mod)
        setattr(mods[mod], cls.__name__, cls)
    for name in ("mmengine", "mmengine.logging"):
        mods[name] = types.ModuleType(name)
    for name, m in mods.items():
        monkeypatch.setitem(sys.modules, name, m)

    def forget() -> None:  # after saving: a full unpickle could not even import these classes
        for name in mods:
            monkeypatch.delitem(sys.modules, name)

    return HistoryBuffer, MessageHub, forget


def mmseg_style_checkpoint(path: Path, backbone_state: dict[str, torch.Tensor], HistoryBuffer, MessageHub) -> None:
    """What mmengine's runner saves (mmengine/runner/runner.py save_checkpoint): meta with NumPy values,
    state_dict, message_hub (HistoryBuffer objects; early mmengine saved the MessageHub itself), optimizer,
    param_schedulers."""
    hub = OrderedDict(loss=HistoryBuffer([0.52, 0.48], [1, 1]))
    torch.save(
        {
            "meta": {
                "mmseg_version": "1.2.2",
                "mmengine_version": "0.10.7",
                "seed": np.int64(1234),
                "epoch": 1,
                "iter": 40000,
                "cfg": "model = dict(type='EncoderDecoder')",
                "hist": np.zeros(2),
                "dataset_meta": {"classes": ("road", "sidewalk"), "palette": [[128, 64, 128], [244, 35, 232]]},
            },
            "state_dict": OrderedDict(
                [
                    *((f"backbone.{k}", v) for k, v in backbone_state.items()),
                    ("decode_head.conv_seg.weight", torch.zeros(19, 270, 1, 1)),
                ]
            ),
            "message_hub": {
                "log_scalars": hub,
                "runtime_info": OrderedDict(iter=40000, **{"val/mIoU": np.float64(75.2)}),
                "resumed_keys": OrderedDict(loss=True, iter=True),
            },
            "old_message_hub": MessageHub("mtbench-test", log_scalars=hub),
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0, 1]}]},
            "param_schedulers": [{"eta_min": 1e-4, "power": 0.9, "last_step": 40000}],
        },
        path,
    )


def test_mmseg_style_checkpoint_with_mmengine_metadata_loads_without_trust(tmp_path, monkeypatch):
    from mtbench.backbones import build_backbone
    from mtbench.backbones.weights import load_local_weights, read_weights
    from mtbench.safeload import Placeholder

    HistoryBuffer, MessageHub, forget = _mmengine_classes(monkeypatch)
    src = build_backbone("resnet18").body
    path = tmp_path / "iter_40000.pth"
    mmseg_style_checkpoint(path, src.state_dict(), HistoryBuffer, MessageHub)
    forget()
    raw = read_weights(path)
    loss = raw["message_hub"]["log_scalars"]["loss"]
    assert isinstance(loss, Placeholder) and isinstance(loss.state, dict)
    assert repr(loss.state["statistics_methods"]["min"]).startswith("<attribute 'min' of")  # never read
    assert isinstance(raw["old_message_hub"], Placeholder)
    assert raw["meta"]["hist"].tolist() == [0.0, 0.0] and raw["meta"]["seed"] == 1234
    dst = build_backbone("resnet18").body
    report = load_local_weights(dst, path, select="backbone.")
    assert report["loaded"] == len(src.state_dict()) and report["missing"] == 0
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())


def test_timm_training_checkpoint_with_namespace_loads_without_trust(tmp_path):
    import argparse

    from mtbench.backbones import build_backbone, load_local_weights

    src = build_backbone("resnet18").body
    path = tmp_path / "checkpoint-99.pth.tar"
    torch.save(
        {
            "epoch": 99,
            "arch": "resnet18",
            "state_dict": src.state_dict(),
            "args": argparse.Namespace(lr=0.1, model="resnet18"),
            "metric": np.float64(71.3),
        },
        path,
    )
    dst = build_backbone("resnet18").body
    assert load_local_weights(dst, path)["missing"] == 0


# ---- mtbench checkpoints: format errors in one line ------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(module_tmp) -> Path:
    tmp = module_tmp("trained")
    main(["run", "--model", "mtl", "--tasks", "semseg,depth", "--aux-tasks", "none", *_sets(tiny_overrides(tmp))])
    (run_dir,) = (tmp / "runs").iterdir()
    return run_dir


def _copy_run(trained_run: Path, tmp_path: Path, edit) -> tuple[Path, Path]:
    run_dir = tmp_path / trained_run.name
    shutil.copytree(trained_run, run_dir)
    ck_path = run_dir / "checkpoint.pt"
    edit(load_checkpoint(ck_path), ck_path)
    return run_dir, ck_path


def _wrong_shape(ck, p):
    ck["model"]["heads.semseg.classifier.weight"] = torch.zeros(3, 3)
    save_checkpoint(ck, p)


def _missing_param(ck, p):
    del ck["model"]["heads.depth.classifier.bias"]
    save_checkpoint(ck, p)


def _bare_state_dict(ck, p):
    torch.save(ck["model"], p)


def _no_train_state(ck, p):
    del ck["train_state"]
    save_checkpoint(ck, p)


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (
            _wrong_shape,
            r"checkpoint\.pt: checkpoint does not fit the configured model: parameter "
            r"'heads\.semseg\.classifier\.weight' has shape \[3, 3\] in the checkpoint, \[10, 270, 1, 1\] in the "
            r"model",
        ),
        (
            _missing_param,
            r"checkpoint\.pt: checkpoint does not fit the configured model: 1 parameter\(s\) of the model "
            r"missing from the checkpoint \(first: 'heads\.depth\.classifier\.bias'\)",
        ),
        (_bare_state_dict, r"checkpoint\.pt: not an mtbench checkpoint \(no format entry 'mtbench-checkpoint'"),
        (_no_train_state, r"checkpoint\.pt: incomplete mtbench checkpoint: missing 'train_state'"),
    ],
    ids=["shape-mismatch", "missing-parameter", "not-an-mtbench-checkpoint", "missing-entry"],
)
def test_eval_names_the_checkpoint_problem_in_one_line(trained_run, tmp_path, capsys, edit, pattern):
    model_keys = load_checkpoint(trained_run / "checkpoint.pt")["model"]
    assert {"heads.semseg.classifier.weight", "heads.depth.classifier.bias"} <= set(model_keys)
    run_dir, _ = _copy_run(trained_run, tmp_path, edit)
    line = _one_line_error(["eval", str(run_dir), "--results", str(tmp_path / "results")], capsys)
    assert re.search(pattern, line), line


def test_resume_needs_the_optimizer_state(trained_run, tmp_path, capsys):
    def no_optimizer(ck, p):
        del ck["optimizer"]
        save_checkpoint(ck, p)

    run_dir, _ = _copy_run(trained_run, tmp_path, no_optimizer)
    line = _one_line_error(["run", "--resume", str(run_dir)], capsys)
    assert re.search(r"checkpoint\.pt: incomplete mtbench checkpoint: missing 'optimizer'", line), line


def test_checkpoints_hold_plain_values_only(trained_run):
    ck = torch.load(trained_run / "checkpoint.pt", map_location="cpu", weights_only=True)  # no extra globals
    assert ck["format"] == "mtbench-checkpoint" and ck["version"] == 2
    assert isinstance(ck["rng"]["python"][1], list) and len(ck["rng"]["numpy"]["key"]) == 624
    with pytest.raises(TypeError, match=r"checkpoint\.extra: numpy\.ndarray is not a plain value"):
        save_checkpoint({"extra": np.zeros(2)}, trained_run.parent / "never.pt")
    assert not (trained_run.parent / "never.pt").exists()


# ---- old-format checkpoints: refused with how to proceed, converted once, resume stays exact -------------


def _to_old_format(path: Path) -> None:
    """Rewrite a checkpoint as mtbench wrote it before: no format entry, Python and NumPy RNG states as
    random.getstate() / np.random.get_state() return them (the NumPy one pickles an ndarray)."""
    ck = load_checkpoint(path)
    old = {k: v for k, v in ck.items() if k not in ("format", "version")}
    old["rng"] = {
        **ck["rng"],
        "python": python_rng_from_plain(ck["rng"]["python"]),
        "numpy": numpy_rng_from_plain(ck["rng"]["numpy"]),
    }
    torch.save(old, path)


def test_old_format_checkpoint_is_refused_then_converted_and_resumes_exactly(tmp_path, monkeypatch, capsys):
    from test_engine_e2e import _stop_after

    from mtbench.engine.run import run_experiment
    from mtbench.engine.trainer import Interrupted

    over = {"model.name": "mtl", "train.epochs": 2, "data.aux_tasks": "[]"}
    ((full, _),) = run_experiment(build_config(None, tiny_overrides(tmp_path / "a", **over)))
    _stop_after(monkeypatch, 3)  # a checkpoint in the middle of the second epoch
    cfg = build_config(None, tiny_overrides(tmp_path / "b", **over))
    with pytest.raises(Interrupted):
        run_experiment(cfg)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "b" / "runs").iterdir()
    ck = run_dir / "checkpoint.pt"
    _to_old_format(ck)

    line = _one_line_error(["run", "--resume", str(run_dir)], capsys)
    assert f"{ck}: an mtbench checkpoint in the old format?" in line
    assert f"'mtbench checkpoint convert {ck} --trust-checkpoint'" in line
    line = _one_line_error(["checkpoint", "convert", str(run_dir)], capsys)
    assert f"{ck}: converting an old-format checkpoint unpickles it fully" in line and "--trust-checkpoint" in line

    # --trust-checkpoint loads it as it is (a copy, evaluated), and the record says so
    copy = tmp_path / "copy" / run_dir.name
    shutil.copytree(run_dir, copy)
    main(["eval", str(copy), "--results", str(tmp_path / "copy-results"), "--trust-checkpoint"])
    (record,) = load_records(tmp_path / "copy-results")
    assert f"checkpoint {copy / 'checkpoint.pt'} loaded with a full unpickle (--trust-checkpoint)" in record.notes

    capsys.readouterr()
    main(["checkpoint", "convert", str(run_dir), "--trust-checkpoint"])
    assert f"{ck}: converted to the current format" in capsys.readouterr().out
    assert torch.load(ck, weights_only=True)["format"] == "mtbench-checkpoint"
    main(["checkpoint", "convert", str(ck)])  # nothing left to do, no flag needed
    assert "already in the current format" in capsys.readouterr().out
    ((resumed, _),) = run_experiment(cfg, resume=run_dir)
    assert resumed.metrics == full.metrics
    assert not any("full unpickle" in n for n in resumed.notes)


# ---- records ----------------------------------------------------------------------------------------------


def _record(**fields) -> dict:
    rec = RunRecord(
        id="r",
        model="mtl",
        backbone="hrnet18",
        dataset="synthetic",
        tasks=["semseg"],
        metrics={"semseg": {"mIoU": 1.0}},
        primary={"semseg": 1.0},
    )
    return {**json.loads(rec.model_dump_json()), **fields}


def _deep(n: int):
    out: dict = {}
    for _ in range(n):
        out = {"a": out}
    return out


@pytest.mark.parametrize(
    "content, pattern",
    [
        (_record(id="x" * 10_000), r"invalid record: id: String should have at most 256 characters"),
        (_record(notes=["n"] * 100_000), r"invalid record: notes: List should have at most 10000 items"),
        (
            _record(metrics={"semseg": {f"IoU_{i}": 0.0 for i in range(5000)}}),
            r"invalid record: metrics\.semseg: Dictionary should have at most 1024 items",
        ),
        (_record(config=_deep(200)), r"invalid record: config: Value error, nested deeper than 32 levels"),
        (_record(notes=["x" * 2_000_000]), r"invalid record: \d+ bytes \(a record is at most 1048576\)"),
        ("[" * 100_000 + "]" * 100_000, r"invalid record: RecursionError"),
        ('{"seed": ' + "9" * 5000 + "}", r"invalid record: ValueError: Exceeds the limit"),
    ],
    ids=["long-string", "long-list", "big-dict", "deep-config", "huge-file", "deep-json", "huge-int"],
)
def test_crafted_records_fail_in_one_line(tmp_path, capsys, content, pattern):
    save_record(RunRecord(**{k: v for k, v in _record().items() if k != "id"}, id="fine"), tmp_path / "results")
    bad = tmp_path / "results" / "synthetic" / "mtl" / "crafted.json"
    bad.write_text(content if isinstance(content, str) else json.dumps(content))
    line = _one_line_error(["table", "--results", str(tmp_path / "results")], capsys)
    assert str(bad) in line and re.search(pattern, line), line


def test_committed_records_stay_valid():
    root = Path(__file__).resolve().parents[1] / "results"
    assert len(load_records(root)) > 0
    assert len(load_records(root / "reference", exclude=())) > 0


# ---- YAML configs -----------------------------------------------------------------------------------------


def test_yaml_python_tags_are_refused_in_one_line(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'train:\n  epochs: !!python/object/apply:os.system ["touch {marker}"]\n')
    line = _one_line_error(["run", "--config", str(evil)], capsys, code=2)
    assert re.search(
        r"evil\.yaml: YAML tag refused at line 2: could not determine a constructor for the tag "
        r"'tag:yaml\.org,2002:python/object/apply:os\.system'",
        line,
    ), line
    run_dir = _run_folder(tmp_path, "shared-run")
    with open(run_dir / "config.yaml", "a") as f:
        f.write("extra: !!python/object:pathlib.Path {}\n")
    line = _one_line_error(["eval", str(run_dir)], capsys, code=2)
    assert "config.yaml: YAML tag refused" in line and "python/object:pathlib.Path" in line
    assert not marker.exists()


def test_yaml_alias_bomb_is_refused(tmp_path, capsys):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    line = _one_line_error(["config", "show", str(bomb)], capsys, code=2)
    assert "bomb.yaml: config too large (more than 100000 values once YAML aliases are expanded)" in line


# ---- .npy and .mat ----------------------------------------------------------------------------------------


def _pickled_npy(path: Path, marker: Path) -> None:
    np.save(path, np.array([TouchPayload(marker), 1], dtype=object), allow_pickle=True)


def test_npy_with_a_pickle_is_refused_in_a_dataset(tmp_path, capsys):
    from mtbench.data import write_synthetic

    data = tmp_path / "data"
    write_synthetic(data, n=8, size=(64, 64), seed=0)
    marker = tmp_path / "PWNED"
    ids = (data / "gt_sets" / "train.txt").read_text().split()
    for i in ids:
        _pickled_npy(data / "depth" / f"{i}.npy", marker)
    argv = [
        "run",
        "--model",
        "mtl",
        "--tasks",
        "semseg,depth",
        "--aux-tasks",
        "none",
        "--data-root",
        str(data),
        *_sets(tiny_overrides(tmp_path)),
    ]
    line = _one_line_error(argv, capsys)
    assert re.search(
        r"Corrupt or unreadable array '.*depth/.*\.npy': Object arrays cannot be loaded when "
        r"allow_pickle=False",
        line,
    ), line
    assert not marker.exists()


def _edge_folders(tmp_path: Path) -> tuple[Path, Path]:
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    np.save(pred / "img0.npy", np.zeros((16, 16)))
    return pred, gt


def test_npy_with_a_pickle_is_refused_by_edge_evaluation(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    pred, gt = _edge_folders(tmp_path)
    np.save(gt / "img0.npy", np.zeros((16, 16), np.uint8))
    _pickled_npy(pred / "img0.npy", marker)
    line = _one_line_error(["edges", str(pred), str(gt)], capsys)
    assert re.search(r"Corrupt or unreadable array '.*pred/img0\.npy': Object arrays cannot be loaded", line), line
    np.save(pred / "img0.npy", np.zeros((16, 16)))
    _pickled_npy(gt / "img0.npy", marker)
    line = _one_line_error(["edges", str(pred), str(gt)], capsys)
    assert re.search(r"Corrupt or unreadable array '.*gt/img0\.npy'", line), line
    assert not marker.exists()


def test_bad_mat_files_fail_in_one_line(tmp_path, capsys):
    from scipy.io import savemat

    pred, gt = _edge_folders(tmp_path)
    (gt / "img0.mat").write_bytes(b"MATLAB 5.0 MAT-file, but then nothing sensible" + bytes(200))
    line = _one_line_error(["edges", str(pred), str(gt)], capsys)
    assert re.search(r"Corrupt or unreadable \.mat file '.*gt/img0\.mat'", line), line
    cells = np.empty((1, 2), dtype=object)
    cells[0, 0], cells[0, 1] = "road", np.zeros(3)
    savemat(gt / "img0.mat", {"LabelMap": cells})  # a cell array, not a label map
    line = _one_line_error(["edges", str(pred), str(gt)], capsys)
    assert re.search(r"gt/img0\.mat: 'LabelMap' must be a 2-D integer label map, got object", line), line
