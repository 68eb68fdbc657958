"""The training loop: resumable at any iteration, DDP-aware, NaN-guarded, signal-safe."""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from mtbench._testhooks import kill_point
from mtbench.config import RunConfig
from mtbench.data.spec import DatasetSpec
from mtbench.engine.checkpoint import (
    TRAINER_KEYS,
    load_checkpoint,
    load_model_weights,
    numpy_rng_from_plain,
    numpy_rng_to_plain,
    python_rng_from_plain,
    python_rng_to_plain,
    save_checkpoint,
    to_plain,
)
from mtbench.engine.evaluate import Evaluation, autocast, evaluate, to_device
from mtbench.engine.loader import eval_loader, generated_on_the_fly, resolve_workers, train_loader
from mtbench.engine.losses import MultiTaskLoss, NonFiniteLoss
from mtbench.engine.optim import build_optimizer, build_scheduler
from mtbench.engine.progress import EpochBar, curve_line, write_csv_log, write_curve_csv
from mtbench.engine.runtime import DistInfo
from mtbench.engine.sampler import EpochSampler, ResumableSampler
from mtbench.engine.seeded import SeededDataset
from mtbench.engine.tensorboard import N_IMAGES, Board, prediction_images
from mtbench.errors import MtbenchError
from mtbench.reporting.results import CURVE_CSV

log = logging.getLogger(__name__)
LAST, BEST = "checkpoint.pt", "best.pt"


def reported_checkpoint(run_dir: Path, selects_best: bool) -> Path:
    """The checkpoint a run folder reports: ``best.pt`` when the run selected the best one
    (``eval.checkpoint: best``) and has it, else ``checkpoint.pt`` (the last)."""
    return Path(run_dir) / (BEST if selects_best and (Path(run_dir) / BEST).exists() else LAST)


class Interrupted(MtbenchError):
    """SIGINT/SIGTERM: a checkpoint was saved; the run can be resumed."""

    exit_code = 130


@dataclass
class TrainState:
    epoch: int = 0  # current epoch (0-based); == epochs when training is complete
    step_in_epoch: int = 0  # optimiser steps already done in the current epoch (this rank)
    global_step: int = 0
    best: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    val_metrics: dict[str, dict[str, float]] | None = None  # metrics of the best checkpoint (checkpoint=best)
    # wall seconds over the whole run (resumed parts included): in the training loop, of which waiting for
    # batches (loading, rendering, augmenting), and in evaluations during training (eval.every, curves)
    loop_s: float = 0.0
    data_s: float = 0.0
    val_s: float = 0.0
    # learning curve (eval.every_iters): one dict per point (Trainer._curve_point), and the training losses
    # summed over the ``curve_steps`` iterations since the last point (their mean goes into the next point)
    curve: list[dict[str, Any]] = field(default_factory=list)
    curve_sums: dict[str, float] = field(default_factory=dict)
    curve_steps: int = 0


def _rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) RNG states as plain values (see mtbench.engine.checkpoint)."""
    st = {
        "python": python_rng_to_plain(random.getstate()),
        # the legacy tuple (the global RandomState is MT19937); numpy's stubs type the default call as a dict
        "numpy": numpy_rng_to_plain(cast(tuple, np.random.get_state(legacy=True))),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        st["cuda"] = list(torch.cuda.get_rng_state_all())
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    random.setstate(python_rng_from_plain(st["python"]))
    np.random.set_state(numpy_rng_from_plain(st["numpy"]))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


@contextlib.contextmanager
def _rng_kept() -> Iterator[None]:
    """The Python, NumPy and torch (CUDA) RNG states as they were before the block, after it."""
    rng = _rng_state()
    try:
        yield
    finally:
        _set_rng_state(rng)


def float_outputs(out: dict[str, Any]) -> dict[str, Any]:
    """A model's outputs ({task: tensor}, deep supervision under 'aux' as {group: {task: tensor}}) in float32,
    as the losses take them (autocast leaves them in bf16/fp16)."""
    return {
        k: (
            v.float()
            if isinstance(v, torch.Tensor)
            else {g: {t: p.float() for t, p in d.items()} for g, d in v.items()}
        )
        for k, v in out.items()
    }


def summary_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each task's declared metrics and its primary (no per-class values such as IoU_3)."""
    from mtbench.registry import get_task

    out = {}
    for t, d in metrics.items():
        keep = {s.name for s in get_task(t).metric_specs()} | {get_task(t).primary}
        out[t] = {k: v for k, v in d.items() if k in keep}
    return out


def select_value(metrics: dict[str, dict[str, float]], select: str | None, tasks: list[str]) -> tuple[float, bool]:
    """The value that picks the best checkpoint ('task.metric'; default: the first task's Δm metric)
    and whether higher is better (from the metric's MetricSpec)."""
    from mtbench.registry import get_task

    task, _, name = (select or f"{tasks[0]}.{get_task(tasks[0]).primary}").partition(".")
    if task not in metrics or name not in metrics[task]:
        raise MtbenchError(
            f"--set eval.select={select}: no metric '{name}' for task '{task}'; "
            f"available: {', '.join(f'{t}.{m}' for t in metrics for m in metrics[t])}"
        )
    metric_spec = get_task(task).metric_spec(name)
    higher = (metric_spec or get_task(task).primary_spec).higher_is_better
    return metrics[task][name], higher


def train_step(
    model: torch.nn.Module,
    loss_fn: MultiTaskLoss,
    opt: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    batch: dict,
    device: torch.device,
    *,
    amp: str = "none",
    channels_last: bool = False,
    grad_clip: float | None = None,
    check: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> dict[str, float]:
    """One optimiser step of ``Trainer`` (the learning-rate schedule excepted): batch to ``device``, forward
    (under ``amp`` autocast), outputs to fp32, the multi-task loss (deep supervision included), ``check`` on
    the loss parts (the trainer's NaN guard), zero_grad, backward (through ``scaler``), optional gradient
    clipping, optimiser step. Returns the total and the main tasks' losses as floats (what the trainer logs).
    ``scripts/bench_models.py --against-release`` times this function."""
    batch = to_device(batch, device, channels_last)
    with autocast(device, amp):
        out = model(batch["image"])
    out = float_outputs(out)
    total, parts = loss_fn(out, batch)
    # the outputs (deep supervision's full-size predictions included) are not needed by the backward pass:
    # freed here, not after the step, they do not add to its peak memory (nor cost fresh pages from the OS)
    del out
    if check is not None:
        check(parts)
    opt.zero_grad(set_to_none=True)
    scaler.scale(total).backward()
    if grad_clip:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()
    return {"total": float(total.detach()), **{k: float(v.detach()) for k, v in parts.items() if "/" not in k}}


class Trainer:
    """Trains ``model`` per ``cfg`` with checkpoints in ``run_dir``; ``fit()`` returns the final state."""

    def __init__(
        self,
        cfg: RunConfig,
        model: torch.nn.Module,
        train_set,
        val_set,
        spec: DatasetSpec,
        tasks: list[str],
        aux_tasks: list[str],
        device: torch.device,
        dist: DistInfo,
        run_dir: Path,
    ) -> None:
        self.cfg, self.spec, self.tasks, self.aux_tasks = cfg, spec, tasks, aux_tasks
        self.device, self.dist, self.run_dir = device, dist, Path(run_dir)
        self.model = model.to(device)
        self.channels_last = device.type == "cuda" and cfg.train.channels_last
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ddp_model: torch.nn.Module = self.model
        if dist.enabled:
            if cfg.train.sync_bn:
                self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            ids = [device.index] if device.type == "cuda" else None
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        # the module the training forward runs through: torch.compile'd when train.compile (the eager self.model
        # keeps the weights, the checkpoints and the evaluation, which runs uncompiled)
        self.train_model: torch.nn.Module = self.ddp_model
        if cfg.train.compile:
            self.train_model = cast(torch.nn.Module, torch.compile(self.ddp_model))
        self.train_set = SeededDataset(train_set, cfg.run.seed)
        self.val_set = val_set
        self.sampler = ResumableSampler(
            len(train_set), seed=cfg.run.seed, shuffle=True, rank=dist.rank, world_size=dist.world_size, pad=True
        )
        # DataLoader workers (data.workers, "auto": see mtbench.engine.loader); the loaders are made once and
        # kept, so that their workers persist across epochs and evaluations (``close`` ends them)
        self.workers = resolve_workers(
            cfg.data.workers,
            device=device,
            generated=generated_on_the_fly(spec, cfg.data.root),
            world_size=dist.world_size,
        )
        self._train_loader: DataLoader | None = None
        self._val_loaders: dict[int | None, DataLoader] = {}
        self.iters_per_epoch = max(1, self.sampler.per_rank() // cfg.train.batch_size)
        self.total_iters = self.iters_per_epoch * cfg.train.epochs
        # the iteration training ends at (train.max_iters may stop it early): the curve's last point
        mi = cfg.train.max_iters
        self.final_iter = self.total_iters if mi is None else min(mi, self.total_iters)
        self.loss_fn = MultiTaskLoss(tasks, aux_tasks, cfg.train.task_weights)
        self.opt = build_optimizer(self.model, cfg.train)
        self.sched = build_scheduler(self.opt, self.total_iters, cfg.train, self.iters_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.train.amp == "fp16")
        self.state = TrainState()
        self._stop_signal: int | None = None
        # TensorBoard (run.tensorboard): a no-op until the caller opens one (rank 0); the images' samples
        # (the first N_IMAGES of the evaluation split) and the steps that have their images
        self.board = Board()
        self._board_samples: list[tuple[int, dict[str, Any]]] | None = None
        self._imaged_steps: set[int] = set()

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "train_state": to_plain(self.state.__dict__),
            "rng": _rng_state(),
            "config": self.cfg.model_dump(mode="json"),
        }

    def save(self, name: str = LAST) -> None:
        """Write a checkpoint, never over a good one with non-finite weights."""
        bad = [n for n, p in self.model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise NonFiniteLoss(
                f"non-finite weights ({bad[0]}) at epoch {self.state.epoch + 1} step "
                f"{self.state.step_in_epoch}; last good checkpoint kept: {self.run_dir / LAST}"
            )
        if self.dist.is_main:
            save_checkpoint(self.state_dict(), self.run_dir / name)

    def resume(self, path: Path) -> None:
        ck = load_checkpoint(path, require=TRAINER_KEYS)
        load_model_weights(self.model, ck["model"], path)
        steps = (
            ("optimizer state", lambda: self.opt.load_state_dict(ck["optimizer"])),
            ("scheduler state", lambda: self.sched.load_state_dict(ck["scheduler"])),
            ("grad scaler state", lambda: self.scaler.load_state_dict(ck["scaler"])),
            ("train state", lambda: setattr(self, "state", TrainState(**ck["train_state"]))),
            ("RNG state", lambda: _set_rng_state(ck["rng"])),
        )
        for what, restore in steps:
            try:
                restore()
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:
                detail = " ".join(str(e).split())[:200]
                raise MtbenchError(f"{path}: cannot restore the {what} ({type(e).__name__}: {detail})") from e
        log.info("resumed from %s at epoch %d step %d", path, self.state.epoch, self.state.step_in_epoch)

    # ---- signals ----------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop_signal = signum

    def _install_signals(self) -> dict[int, Any]:
        old: dict[int, Any] = {}
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                old[s] = signal.signal(s, self._on_signal)
            except ValueError:  # not the main thread
                pass
        return old

    # ---- training -----------------------------------------------------------------------------------
    def _loader(self, epoch: int, start: int) -> DataLoader:
        """The training loader for ``epoch`` from its ``start``-th batch: one loader for the whole run (its
        workers persist); the sampler yields (epoch, index) keys, so every epoch's augmentation is its own."""
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start * self.cfg.train.batch_size)
        if self._train_loader is None:
            self._train_loader = train_loader(
                self.train_set,
                EpochSampler(self.sampler),
                self.cfg.train.batch_size,
                self.workers,
                self.device,
                seed=self.cfg.run.seed,
            )
        return self._train_loader

    def close(self) -> None:
        """End the loaders' worker processes (they persist until then); a later use makes new loaders."""
        self._train_loader = None
        self._val_loaders.clear()

    def _step(self, batch: dict, epoch: int) -> dict[str, float]:
        def check(parts: dict[str, torch.Tensor]) -> None:
            try:
                self.loss_fn.check_finite(parts, epoch + 1, self.state.step_in_epoch + 1)
            except NonFiniteLoss as e:
                last = self.run_dir / LAST
                kept = f"last good checkpoint kept: {last}" if last.exists() else "no checkpoint was written yet"
                raise NonFiniteLoss(f"{e}; {kept}") from None

        losses = train_step(
            self.train_model,
            self.loss_fn,
            self.opt,
            self.scaler,
            batch,
            self.device,
            amp=self.cfg.train.amp,
            channels_last=self.channels_last,
            grad_clip=self.cfg.train.grad_clip,
            check=check,
        )
        self.sched.step()
        return losses

    def _val_data(self, limit: int | None = None) -> Dataset:
        """The evaluation split, or its first ``limit`` images (the learning curve's fixed subset)."""
        n = len(self.val_set)
        return self.val_set if limit is None or limit >= n else Subset(self.val_set, range(limit))

    @property
    def curve_images(self) -> int:
        """How many evaluation images each learning-curve point is measured on (all processes together)."""
        return len(self._val_data(self.cfg.eval.curve_images))  # type: ignore[arg-type]

    def _val_loader(self, limit: int | None = None) -> DataLoader:
        """The evaluation loader of the split's first ``limit`` images (None: all), made once per ``limit``."""
        if limit is not None and limit >= len(self.val_set):
            limit = None
        if limit not in self._val_loaders:
            data = self._val_data(limit)
            sampler = ResumableSampler(
                len(data),  # type: ignore[arg-type]
                shuffle=False,
                rank=self.dist.rank,
                world_size=self.dist.world_size,
                pad=False,
            )
            self._val_loaders[limit] = eval_loader(
                data, self.cfg.eval.batch_size, self.workers, self.device, sampler=sampler
            )
        return self._val_loaders[limit]

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's BN statistics (DDP broadcasts buffers only before each forward), so
        distributed evaluation measures exactly the model that rank 0 checkpoints."""
        if self.dist.enabled:
            import torch.distributed as tdist

            for b in self.model.buffers():
                tdist.broadcast(b, src=0)

    def evaluate(self, limit: int | None = None, bootstrap: int = 0) -> Evaluation:
        """Evaluate the model on the evaluation split (its first ``limit`` images when given); ``bootstrap`` > 0:
        with that many bootstrap replicates of each task's primary metric (the final evaluation, which the record
        stores; not every epoch's or curve point's)."""
        kill_point("eval")  # test hook (no-op unless MTBENCH_TEST_KILL_AT is set)
        self._sync_buffers()
        return evaluate(
            self.model,
            self._val_loader(limit),
            self.tasks,
            self.spec,
            self.device,
            amp=self.cfg.train.amp,
            channels_last=self.channels_last,
            options=self.cfg.eval.options,
            distributed=self.dist.enabled,
            bootstrap=bootstrap,
        )

    def fit(self) -> TrainState:
        cfg = self.cfg.train
        bar = EpochBar(self.cfg.run.quiet or not self.dist.is_main)
        old = self._install_signals()
        try:
            if self.dist.is_main and self.state.curve:  # resumed: the file agrees with the checkpoint's points
                write_curve_csv(self.run_dir / CURVE_CSV, self.state.curve)
            if self._curve_due():  # iteration 0: the initialised model
                self._curve_point(self.state.loop_s, bar)
            while self.state.epoch < cfg.epochs:
                epoch = self.state.epoch
                sums: dict[str, float] = {}
                n_steps, t0, seen = 0, time.perf_counter(), 0
                bar.start(epoch, cfg.epochs, self.iters_per_epoch, self.state.step_in_epoch)
                self.model.train()
                t_wait = time.perf_counter()
                for batch in self._loader(epoch, self.state.step_in_epoch):
                    self.state.data_s += time.perf_counter() - t_wait
                    if self.state.step_in_epoch >= self.iters_per_epoch or self._done():
                        break
                    lr = self.opt.param_groups[0]["lr"]  # the rate this iteration trains with
                    losses = self._step(batch, epoch)
                    self.state.step_in_epoch += 1
                    self.state.global_step += 1
                    self.board.train(self.state.global_step, losses, lr)
                    n_steps += 1
                    seen += batch["image"].shape[0] * self.dist.world_size
                    for k, v in losses.items():
                        sums[k] = sums.get(k, 0.0) + v
                    bar.update({k: v for k, v in losses.items()}, seen / (time.perf_counter() - t0))
                    if self.cfg.eval.every_iters:
                        self._add_curve_losses(losses)
                        if self._curve_due():  # its seconds are kept out of the loop's time and img/s
                            t0 += self._curve_point(self.state.loop_s + time.perf_counter() - t0, bar)
                    every = cfg.checkpoint_every_iters
                    if every and self.state.global_step % every == 0:
                        self.save()
                    kill_point("step")  # test hook (no-op unless MTBENCH_TEST_KILL_AT is set)
                    if self._stop_signal is not None:
                        self.state.loop_s += time.perf_counter() - t0
                        self.save()
                        name = signal.Signals(self._stop_signal).name
                        raise Interrupted(
                            f"{name} received: checkpoint saved at epoch {epoch + 1} step "
                            f"{self.state.step_in_epoch}; resume with "
                            f"'mtbench run --resume {self.run_dir}'"
                        )
                    if self._done():
                        break
                    t_wait = time.perf_counter()
                bar.stop()
                self.state.loop_s += time.perf_counter() - t0
                row: dict[str, Any] = {
                    "epoch": epoch + 1,
                    "lr": self.opt.param_groups[0]["lr"],
                    "seconds": round(time.perf_counter() - t0, 3),
                    "img_per_s": round(seen / max(1e-9, time.perf_counter() - t0), 2),
                }
                row.update({f"loss_{k}": v / max(1, n_steps) for k, v in sums.items()})
                self._maybe_evaluate(epoch, row)
                self.state.history.append(row)
                self.state.epoch, self.state.step_in_epoch = epoch + 1, 0
                if self._done():
                    self.state.epoch = cfg.epochs
                self.save()
                if self.dist.is_main:
                    write_csv_log(self.run_dir / "log.csv", self.state.history)
        finally:
            bar.stop()
            for s, h in old.items():
                signal.signal(s, h)
            self._train_loader = None  # its workers end here; the evaluation loaders' are kept (see ``close``)
        return self.state

    def _done(self) -> bool:
        """``train.max_iters`` reached (0: no training at all, the initialised model is evaluated)."""
        return self.cfg.train.max_iters is not None and self.state.global_step >= self.cfg.train.max_iters

    # ---- learning curve ------------------------------------------------------------------------------
    def _curve_due(self) -> bool:
        """A curve point is due now: at iteration 0, every ``eval.every_iters`` and at the end of training,
        unless this iteration has its point already (a run resumed from a checkpoint taken just after it)."""
        every, step = self.cfg.eval.every_iters, self.state.global_step
        if not every or (step % every and step != self.final_iter):
            return False
        return not self.state.curve or self.state.curve[-1]["iteration"] < step

    def _add_curve_losses(self, losses: dict[str, float]) -> None:
        st = self.state
        for k, v in losses.items():
            st.curve_sums[k] = st.curve_sums.get(k, 0.0) + v
        st.curve_steps += 1

    def curve_evaluate(self) -> Evaluation:
        """Evaluate on the curve's subset without changing training: eval mode (no BN statistics updated, no
        dropout), and the Python / NumPy / torch (CUDA) RNG states restored afterwards (the loaders draw from
        generators of their own, but a model may draw in eval mode), so a run with a curve trains exactly as
        one without."""
        with _rng_kept():
            return self.evaluate(self.cfg.eval.curve_images)

    def _curve_point(self, train_s: float, bar: EpochBar) -> float:
        """Measure, keep (TrainState.curve), write (curve.csv) and print one curve point; returns its seconds.
        ``train_s``: training wall seconds so far, evaluations excluded."""
        t0 = time.perf_counter()
        metrics = self.curve_evaluate().metrics
        dt = time.perf_counter() - t0
        st = self.state
        from mtbench.registry import get_task

        point: dict[str, Any] = {
            "iteration": st.global_step,
            "epoch": round(st.global_step / self.iters_per_epoch, 4),
            "images": st.global_step * self.cfg.train.batch_size * self.dist.world_size,
            "seconds": round(train_s, 3),
            "eval_seconds": round(dt, 3),
            "eval_images": self.curve_images,
            "losses": {k: v / st.curve_steps for k, v in st.curve_sums.items()} if st.curve_steps else {},
            "metrics": summary_metrics(metrics),
        }
        st.curve.append(point)
        st.curve_sums, st.curve_steps = {}, 0
        if self.dist.is_main:
            write_curve_csv(self.run_dir / CURVE_CSV, st.curve)
        t_board = time.perf_counter()
        self.board_evaluation("val", point["metrics"])
        dt += time.perf_counter() - t_board  # the evaluation and its TensorBoard images
        st.val_s += dt
        bar.note(curve_line(point, self.final_iter, {t: get_task(t).primary for t in self.tasks}))
        bar.exclude(dt)
        return dt

    # ---- TensorBoard ---------------------------------------------------------------------------------
    def board_evaluation(self, prefix: str, metrics: dict[str, dict[str, float]]) -> None:
        """Log an evaluation at the current iteration: ``metrics`` as ``<prefix>/<task>/<metric>`` and the
        prediction images (``images/<index>``, once per iteration; ``final/images/<index>`` for the final
        evaluation), then flush. Nothing without a TensorBoard writer. The images' forward pass runs in eval
        mode with the RNG states restored afterwards, so training is unchanged by it."""
        if not self.board.enabled:
            return
        step = self.state.global_step
        self.board.metrics(prefix, step, metrics)
        final = prefix == "final"
        if final or step not in self._imaged_steps:
            with _rng_kept():
                if self._board_samples is None:
                    n = min(N_IMAGES, len(self.val_set))
                    self._board_samples = [(i, self.val_set[i]) for i in range(n)]
                images = prediction_images(
                    self.model,
                    self._board_samples,
                    self.tasks,
                    dict(self.spec.num_classes),
                    self.device,
                    self.cfg.train.amp,
                    self.channels_last,
                )
            self.board.images("final/images" if final else "images", step, images)
            if not final:
                self._imaged_steps.add(step)
        self.board.flush()

    def _maybe_evaluate(self, epoch: int, row: dict[str, Any]) -> None:
        ev = self.cfg.eval
        if not ev.every or (epoch + 1) % ev.every:
            return
        t0 = time.perf_counter()
        metrics = self.evaluate().metrics
        self.board_evaluation("val_epoch", summary_metrics(metrics))
        self.state.val_s += time.perf_counter() - t0
        for t, d in metrics.items():
            row.update({f"val_{t}_{k}": v for k, v in d.items()})
        if ev.checkpoint == "best":
            value, higher = select_value(metrics, ev.select, self.tasks)
            if self.state.best is None or (value > self.state.best if higher else value < self.state.best):
                self.state.best, self.state.best_epoch, self.state.val_metrics = value, epoch + 1, metrics
                self.save(BEST)
