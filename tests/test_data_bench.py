"""Data loading: ``mtbench data bench`` on tiny NYUD and PASCAL-Context folders, ``data synth --layout
pascal_context``, ``data.workers: auto``, and persistent workers that keep every epoch's augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_overrides
from torch.utils.data import DataLoader

from mtbench.cli import main
from mtbench.config import build_config
from mtbench.data import build_dataset, check_dataset, write_synthetic
from mtbench.engine import loader as loader_mod
from mtbench.engine.checkpoint import load_checkpoint
from mtbench.engine.data_bench import bench_data, parse_workers
from mtbench.engine.loader import loader_options, resolve_workers, train_loader
from mtbench.engine.run import build_data, resolve_experiment, run_experiment
from mtbench.engine.runtime import DistInfo
from mtbench.engine.sampler import EpochSampler, ResumableSampler
from mtbench.engine.seeded import SeededDataset
from mtbench.engine.trainer import Interrupted, Trainer
from mtbench.errors import UsageError


@pytest.fixture(scope="module")
def nyud_dir(module_tmp):
    return write_synthetic(module_tmp("nyud"), n=11, size=(24, 32)).out


@pytest.fixture(scope="module")
def pascal_dir(module_tmp):
    return write_synthetic(module_tmp("pascal"), n=11, size=(30, 40), layout="pascal_context").out


def _bench_cli(capsys, *argv: str) -> str:
    capsys.readouterr()
    main(["data", "bench", "--n", "8", "--batch", "4", "--workers", "0,1", "--train-size", "32,32", *argv])
    return capsys.readouterr().out


@pytest.mark.parametrize("dataset", ["nyud", "pascal_context"])
def test_bench_prints_positive_rates_for_workers_0_and_1(dataset, nyud_dir, pascal_dir, capsys):
    root = nyud_dir if dataset == "nyud" else pascal_dir
    out = _bench_cli(capsys, "--dataset", dataset, "--data-root", root)
    assert f"{dataset} train ({root}" in out and "load average" in out and "CPUs" in out
    assert "samples/s" in out and "per worker" in out and "ms/sample" in out and "main CPU ms" in out
    rows = {}
    for line in out.splitlines():  # │ workers │ samples/s │ per worker │ ms │ CPU ms │ first batch │
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 6 and cells[0].split(" ")[0].isdigit():
            rows[int(cells[0].split(" ")[0])] = [float(c) for c in cells[1:]]
    assert sorted(rows) == [0, 1] and all(v[0] > 0 and v[1] > 0 and v[2] > 0 for v in rows.values()), out
    assert rows[0][3] > 0  # the main process's CPU time: the whole loading cost with workers = 0
    assert "augmentation" in out and ("file jpg" in out) and ("file mat" in out) == (dataset == "pascal_context")


def test_bench_library_rows_and_stages(pascal_dir):
    res = bench_data("pascal_context", pascal_dir, workers=[0, 1], batch=4, n=8, train_size=(32, 32))
    assert [r.workers for r in res.rows] == [0, 1] and all(r.samples == 8 and r.rate > 0 for r in res.rows)
    assert res.rows[0].per_worker == res.rows[0].rate and res.rows[1].per_worker == res.rows[1].rate
    assert res.size == (32, 32) and res.tasks == ["semseg", "human_parts", "saliency", "normals", "edge"]
    assert res.config == "pascal_hrnet18_512x512_100ep" and res.cpus >= 1
    stages = res.stages
    assert min(stages["augmentation"]) > 0 and min(stages["read: files + checks + derived targets"]) > 0
    assert {"file mat (human_parts)", "file mat (pascal-context/trainval)", "file jpg (JPEGImages)"} <= set(stages)


def test_bench_rejects_bad_options(nyud_dir):
    assert parse_workers("0, 2,4") == [0, 2, 4]
    for bad in ("", "a", "-1", "1,,x"):
        with pytest.raises(UsageError):
            parse_workers(bad)
    with pytest.raises(UsageError, match="smaller than --batch"):
        bench_data("nyud", nyud_dir, n=2, batch=4)


def test_bench_val_split_and_generated_scenes(nyud_dir):
    val = bench_data("nyud", nyud_dir, split="val", workers=[0], batch=2, n=2, train_size=(32, 32))
    assert val.rows[0].samples == 2 and "transform" in val.stages and "augmentation" not in val.stages
    gen = bench_data("synthetic", None, workers=[0], batch=2, n=4, train_size=(32, 32), tasks=["semseg"])
    assert gen.rows[0].rate > 0 and "load (generate + to tensors)" in gen.stages
    assert gen.auto == {"cpu": 0, "cuda": min(8, gen.cpus)}


def test_synth_pascal_layout_reads_with_the_pascal_loader(pascal_dir):
    report = check_dataset("pascal_context", pascal_dir)
    assert report.ok and report.listed == {"train": 8, "val": 3}
    assert report.sizes["train"] == {(30, 40)}
    tasks = ["semseg", "human_parts", "saliency", "normals", "edge"]
    ds = build_dataset("pascal_context", "train", root=pascal_dir, tasks=tasks, train=False, size=(32, 32))
    raw = ds.read(ds.ids[0])
    assert raw["image"].shape == (30, 40, 3)
    assert set(np.unique(raw["semseg"])) <= {0, 5, 11, 15, 16, 18, 20}
    seen_parts = set()
    for name in ds.ids:
        seen_parts |= set(np.unique(ds.read(name)["human_parts"]).tolist())
    assert seen_parts - {255} and seen_parts <= set(range(7)) | {255}  # people with parts, or ignored
    n = raw["normals"]
    norm = np.linalg.norm(n, axis=-1)
    assert ((norm < 1e-6) | (np.abs(norm - 1) < 0.05)).all() and (norm < 1e-6).any() and (norm > 0.5).any()


def test_synth_rejects_an_unknown_layout(tmp_path):
    with pytest.raises(UsageError, match="Unknown layout 'coco'"):
        write_synthetic(tmp_path, n=2, size=(16, 16), layout="coco")


# ---- data.workers: auto ------------------------------------------------------------------------------


def test_auto_workers(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for cpus, cuda, cpu_files in [(1, 1, 0), (2, 2, 1), (4, 4, 1), (16, 8, 1), (64, 8, 1)]:
        assert resolve_workers("auto", device="cuda", generated=False, cpus=cpus) == cuda
        assert resolve_workers("auto", device="cuda", generated=True, cpus=cpus) == cuda  # scenes rendered too
        assert resolve_workers("auto", device="cpu", generated=False, cpus=cpus) == cpu_files
        assert resolve_workers("auto", device=torch.device("cpu"), generated=True, cpus=cpus) == 0  # as before
    assert resolve_workers(3, device="cuda", generated=False, cpus=64) == 3  # a number is kept
    assert resolve_workers(0, device="cpu", generated=False) == 0
    # torchrun: the node's CPUs shared among its processes
    assert resolve_workers("auto", device="cuda", generated=False, cpus=32, world_size=8) == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert resolve_workers("auto", device="cuda", generated=False, cpus=32) == 8
    assert resolve_workers("auto", device="cuda", generated=False, cpus=8) == 2
    # the CPUs this process may use (affinity), not the machine's
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    monkeypatch.setattr(loader_mod.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(loader_mod.os, "cpu_count", lambda: 96)
    assert loader_mod.available_cpus() == 3
    assert resolve_workers("auto", device="cuda", generated=False) == 3


def test_trainer_resolves_auto_per_dataset(tmp_path, nyud_dir, monkeypatch):
    monkeypatch.setattr(loader_mod, "available_cpus", lambda: 4)

    def trainer(*extra: str) -> Trainer:
        cfg = build_config(
            None, tiny_overrides(tmp_path, **{"model.name": "mtl", "data.aux_tasks": "[]"}) + list(extra)
        )
        exp = resolve_experiment(cfg)
        train, val = build_data(cfg, exp, "train"), build_data(cfg, exp, "val")
        from mtbench.engine.run import build_model

        return Trainer(
            cfg, build_model(cfg, exp), train, val, exp.spec, exp.tasks, [], torch.device("cpu"), DistInfo(), tmp_path
        )

    assert build_config(None, []).data.workers == "auto"
    assert trainer().workers == 0  # the default CPU run renders its scenes in the main process, as before
    assert trainer(f"data.root={nyud_dir}").workers == 1  # a folder: one worker on CPU
    assert trainer("data.workers=3").workers == 3


def test_loader_options():
    opts = loader_options(0, "cpu")
    assert opts.pop("generator").initial_seed() == 0
    assert opts == {"num_workers": 0, "pin_memory": False}  # torch refuses persistent workers without workers
    opts = loader_options(2, "cuda", seed=5)
    assert opts["persistent_workers"] and opts["pin_memory"] and opts["prefetch_factor"] == 2
    assert opts["generator"].initial_seed() == 5


# ---- persistent workers: every epoch its own augmentation, as without workers -------------------------


def _batches(loader: DataLoader, sampler: ResumableSampler, data: SeededDataset, epochs: int = 2) -> list[dict]:
    out = []
    for epoch in range(epochs):
        data.set_epoch(epoch)  # in the main process only: persistent workers hold their own copy
        sampler.set_epoch(epoch)
        out.append([b for b in loader])
    return out


def _equal(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y)
        and all(bx["meta"]["name"] == by["meta"]["name"] for bx, by in zip(x, y))
        and all(torch.equal(bx[k], by[k]) for bx, by in zip(x, y) for k in ("image", "semseg", "depth"))
        for x, y in zip(a, b)
    )


def test_persistent_workers_give_the_batches_of_workers_0_in_every_epoch():
    ds = build_dataset("synthetic", "train", tasks=["semseg", "depth"], train=True, size=(32, 32), n=8)
    data = SeededDataset(ds, seed=3)

    def run(workers: int) -> list:
        sampler = ResumableSampler(len(data), seed=3)
        loader = train_loader(data, EpochSampler(sampler), 4, workers, "cpu", seed=3)
        return _batches(loader, sampler, data)

    ref = run(0)
    assert not torch.equal(ref[0][0]["image"], ref[1][0]["image"])  # the epochs differ (order and augmentation)
    persistent = run(2)
    assert _equal(persistent, ref)

    # the control: without the epoch in the keys, persistent workers keep augmenting as in epoch 0
    sampler = ResumableSampler(len(data), seed=3)
    stale = DataLoader(data, batch_size=4, sampler=sampler, num_workers=2, persistent_workers=True, drop_last=True)
    assert not _equal(_batches(stale, sampler, data), ref)


def test_runs_with_persistent_workers_equal_runs_without_also_resumed(tmp_path, monkeypatch):
    """Two epochs with 2 persistent workers (interrupted in the second epoch and resumed) train exactly the
    model that workers = 0 trains."""
    over = {"model.name": "mtl", "train.epochs": 2, "data.aux_tasks": "[]", "eval.every": 1}
    ((ref, _),) = run_experiment(build_config(None, tiny_overrides(tmp_path / "w0", **over, **{"data.workers": 0})))
    ((two, _),) = run_experiment(build_config(None, tiny_overrides(tmp_path / "w2", **over, **{"data.workers": 2})))
    assert two.metrics == ref.metrics
    w0 = load_checkpoint(tmp_path / "w0" / "runs" / ref.id / "checkpoint.pt")["model"]
    w2 = load_checkpoint(tmp_path / "w2" / "runs" / two.id / "checkpoint.pt")["model"]
    assert all(torch.equal(w0[k], w2[k]) for k in w0)

    orig, calls = Trainer._step, {"n": 0}

    def step(self, batch, epoch):
        calls["n"] += 1
        if calls["n"] == 3:  # 2 steps per epoch: stop in the middle of the second
            self._stop_signal = 15
        return orig(self, batch, epoch)

    monkeypatch.setattr(Trainer, "_step", step)
    cfg = build_config(None, tiny_overrides(tmp_path / "r2", **over, **{"data.workers": 2}))
    with pytest.raises(Interrupted):
        run_experiment(cfg)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "r2" / "runs").iterdir()
    ((resumed, _),) = run_experiment(cfg, resume=run_dir)
    assert resumed.metrics == ref.metrics
