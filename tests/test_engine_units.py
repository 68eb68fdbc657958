"""Engine pieces: sampler, schedule, multi-task loss with deep supervision, atomic checkpoints."""

from __future__ import annotations

import pytest
import torch

from mtbench.config import TrainCfg
from mtbench.engine.checkpoint import load_checkpoint, save_checkpoint
from mtbench.engine.losses import MultiTaskLoss, NonFiniteLoss
from mtbench.engine.optim import build_scheduler, lr_factor
from mtbench.engine.sampler import ResumableSampler
from mtbench.errors import MtbenchError


def test_sampler_order_depends_on_seed_and_epoch_only():
    a, b = ResumableSampler(10, seed=3), ResumableSampler(10, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b) and sorted(a) == list(range(10))
    b.set_epoch(3)
    assert list(a) != list(b)


def test_sampler_resume_skips_consumed_samples():
    full = ResumableSampler(12, seed=1)
    full.set_epoch(4)
    part = ResumableSampler(12, seed=1)
    part.set_epoch(4, start=5)
    assert list(part) == list(full)[5:] and len(part) == 7


def test_sampler_ranks_partition_the_epoch():
    ranks = [ResumableSampler(10, seed=0, rank=r, world_size=3) for r in range(3)]
    for s in ranks:
        s.set_epoch(1)
    seen = [i for s in ranks for i in s]
    assert len(seen) == 12 and set(seen) == set(range(10))  # padded to a multiple of 3 like DistributedSampler
    evals = [ResumableSampler(10, shuffle=False, rank=r, world_size=3, pad=False) for r in range(3)]
    assert sorted(i for s in evals for i in s) == list(range(10))  # no sample counted twice in evaluation


def test_poly_schedule_with_warmup():
    cfg = TrainCfg(warmup_iters=4, poly_power=0.9)
    assert lr_factor(0, 100, cfg) == pytest.approx(0.25)
    assert lr_factor(3, 100, cfg) == pytest.approx(1.0)
    assert lr_factor(50, 100, cfg) == pytest.approx(0.5**0.9)
    assert lr_factor(100, 100, TrainCfg()) == 0.0
    assert lr_factor(10, 100, TrainCfg(schedule="constant")) == 1.0


def test_poly_per_epoch_gives_the_release_learning_rates():
    # the release: lr = lr0 * (1 - epoch / max_epochs) ** 0.9, set once at the start of each epoch
    cfg = TrainCfg(lr=1e-4, epochs=100, poly_step="epoch", poly_power=0.9)
    ipe = 7
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = build_scheduler(opt, 100 * ipe, cfg, ipe)
    seen = []
    for _ in range(100 * ipe):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    for epoch in (0, 1, 50, 98, 99):
        expected = 1e-4 * (1 - epoch / 100) ** 0.9
        assert seen[epoch * ipe : (epoch + 1) * ipe] == pytest.approx([expected] * ipe, rel=1e-12)
    assert seen[-1] == pytest.approx(1e-4 * 0.01**0.9) and 0.0158 < seen[-1] / 1e-4 < 0.0159
    assert len(set(seen)) == 100  # one value per epoch
    # per iteration (the default) changes every step
    assert lr_factor(1, 700, TrainCfg()) != lr_factor(2, 700, TrainCfg())


def _batch():
    torch.manual_seed(0)
    return {"semseg": torch.randint(0, 3, (2, 4, 4)), "depth": torch.rand(2, 1, 4, 4) + 0.5}


def test_total_loss_adds_deep_supervision_with_task_weights():
    batch = _batch()
    out = {"semseg": torch.randn(2, 3, 4, 4), "depth": torch.rand(2, 1, 4, 4)}
    aux = {"scale0": {"semseg": torch.randn(2, 3, 4, 4), "depth": torch.rand(2, 1, 4, 4)}}
    loss = MultiTaskLoss(["semseg", "depth"], [], {"semseg": 1.0, "depth": 3.0})
    total, parts = loss({**out, "aux": aux}, batch)
    assert set(parts) == {"semseg", "depth", "scale0/semseg", "scale0/depth"}
    ce = torch.nn.functional.cross_entropy(out["semseg"], batch["semseg"])
    l1 = (out["depth"] - batch["depth"]).abs().mean()
    ce_a = torch.nn.functional.cross_entropy(aux["scale0"]["semseg"], batch["semseg"])
    l1_a = (aux["scale0"]["depth"] - batch["depth"]).abs().mean()
    assert total.item() == pytest.approx((ce + 3 * l1 + ce_a + 3 * l1_a).item(), rel=1e-6)


def test_nan_loss_names_task_and_step():
    parts = {"semseg": torch.tensor(1.0), "scale2/depth": torch.tensor(float("nan"))}
    with pytest.raises(NonFiniteLoss, match=r"task 'scale2/depth' at epoch 1 step 7"):
        MultiTaskLoss.check_finite(parts, 1, 7)


def test_checkpoint_atomic_roundtrip_and_corrupt_file(tmp_path):
    p = tmp_path / "checkpoint.pt"
    save_checkpoint({"a": torch.arange(3)}, p)
    assert torch.equal(load_checkpoint(p)["a"], torch.arange(3))
    assert [f.name for f in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left behind
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(MtbenchError, match="cannot read checkpoint"):
        load_checkpoint(p)


def test_progress_lines_when_output_is_not_a_terminal():
    """Redirected output gets a plain line every 1/20 of the epoch and at its end, with losses and ETA."""
    import io

    from mtbench.engine.progress import EpochBar

    out = io.StringIO()
    bar = EpochBar(quiet=False, stream=out)
    bar.start(0, 2, total=45, done=5)  # a resumed epoch: 40 iterations left
    for _ in range(40):
        bar.update({"semseg": 1.5, "depth": 0.25}, 12.0)
    bar.stop()
    lines = out.getvalue().splitlines()
    assert [ln.split()[3] for ln in lines] == [
        f"{i}/45" for i in (6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 45)
    ]
    assert lines[-1].startswith("epoch 1/2 iter 45/45 (100%) semseg=1.500 depth=0.250 | 12.0 img/s | elapsed ")
    assert lines[-1].endswith("eta 0s")
    quiet = io.StringIO()
    bar = EpochBar(quiet=True, stream=quiet)
    bar.start(0, 1, total=10)
    bar.update({"semseg": 1.0}, 1.0)
    assert quiet.getvalue() == ""
