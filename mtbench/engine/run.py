"""``mtbench run`` / ``mtbench eval`` as library calls: data, model, training, evaluation, cost, record."""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import torch

from mtbench.config import RunConfig, dump_yaml, validate_config
from mtbench.data.spec import DatasetSpec, get_dataset_spec
from mtbench.engine.evaluate import Evaluation
from mtbench.engine.loader import eval_loader, generated_on_the_fly, resolve_workers
from mtbench.engine.runtime import (
    DistInfo,
    environment,
    init_distributed,
    resolve_device,
    seed_everything,
    set_cpu_threads,
)
from mtbench.engine.tensorboard import Board, require_tensorboard
from mtbench.engine.trainer import BEST, LAST, Trainer, TrainState, reported_checkpoint, summary_metrics
from mtbench.errors import MtbenchError, RecordError, UsageError
from mtbench.metrics.bootstrap import DEFAULT_N_BOOT
from mtbench.profiling import peak_memory_mb, profile_model, reset_peak_memory
from mtbench.registry import create_model, get_task, model_info
from mtbench.reporting.results import (
    CURVE_CSV,
    MAX_CURVE_POINTS,
    Bootstrap,
    Cost,
    Curve,
    CurvePoint,
    Env,
    RunRecord,
    atomic_write_text,
    check_writable,
    remove_stale_temps,
    save_record,
)
from mtbench.safeload import trust_notes, trust_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Experiment:
    """What one run trains: the resolved task sets and sizes (derived from the config and dataset spec)."""

    spec: DatasetSpec
    tasks: list[str]
    aux_tasks: list[str]
    train_size: tuple[int, int]
    notes: tuple[str, ...] = ()

    @property
    def eval_size(self) -> tuple[int, int]:
        """The model's input size in evaluation: the training input size for every dataset (synthetic scenes
        are rendered at it; NYUD / PASCAL-Context images are resized to it, predictions resized back)."""
        return self.train_size


def resolve_experiment(cfg: RunConfig) -> Experiment:
    spec = get_dataset_spec(cfg.data.dataset)
    tasks = list(cfg.data.tasks if cfg.data.tasks is not None else spec.default_tasks)
    aux = list(cfg.data.aux_tasks if cfg.data.aux_tasks is not None else spec.default_aux_tasks)
    if not tasks:
        raise UsageError("--tasks: at least one main task is needed")
    aux = [t for t in aux if t not in tasks]
    spec.check_tasks(tasks + aux)
    notes: list[str] = []
    if aux and not model_info(cfg.model.name).aux_tasks:
        notes.append(f"auxiliary tasks {', '.join(aux)} not used: model '{cfg.model.name}' takes none")
        log.info(notes[-1])
        aux = []
    train_size = tuple(cfg.data.train_size or spec.train_size)
    for v in train_size:
        if v % 32:
            raise UsageError(f"--set data.train_size={list(train_size)}: height and width must be divisible by 32")
    from mtbench.engine.evaluate import make_metrics

    make_metrics(tasks, spec, cfg.eval.options)  # bad metric options (e.g. an unknown edge protocol) fail now
    return Experiment(spec, tasks, aux, train_size, tuple(notes))  # type: ignore[arg-type]


def split_single_task(cfg: RunConfig) -> list[RunConfig]:
    """A one-net-per-task model (``--model single_task``) with several tasks trains one model per task (the
    Δm baselines)."""
    exp = resolve_experiment(cfg)
    if len(exp.tasks) == 1 or not model_info(cfg.model.name).one_net_per_task:
        return [cfg]
    out = []
    for t in exp.tasks:
        d = cfg.model_dump(mode="json")
        d["data"]["tasks"], d["data"]["aux_tasks"] = [t], []
        out.append(validate_config(d))
    return out


def new_run_id(cfg: RunConfig, tasks: list[str]) -> str:
    """Unique even for concurrent runs: time to the second + 8 random hex digits."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    backbone = re.sub(r"[^\w.+-]+", "_", cfg.model.backbone)[:48]  # mmseg:<config path>,k=v -> file-safe
    name = cfg.run.name or f"{cfg.model.name}-{'+'.join(tasks)}-{backbone}"
    return f"{name}-s{cfg.run.seed}-{stamp}-{uuid.uuid4().hex[:8]}"


def make_run_dir(cfg: RunConfig, tasks: list[str]) -> str:
    """Create a fresh run folder exclusively (an id that exists already is drawn again); returns its id."""
    runs = Path(cfg.run.runs_dir)
    for _ in range(100):
        run_id = new_run_id(cfg, tasks)
        try:
            (runs / run_id).mkdir(parents=True, exist_ok=False)
            return run_id
        except FileExistsError:
            continue
        except OSError as e:
            raise MtbenchError(f"runs folder '{runs}' is not writable ({e.strerror or e})") from e
    raise MtbenchError(f"runs folder '{runs}': could not create a fresh run folder")


def _broadcast(obj: Any, dist: DistInfo) -> Any:
    if not dist.enabled:
        return obj
    import torch.distributed as tdist

    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def build_data(cfg: RunConfig, exp: Experiment, split: str = "train"):
    from mtbench.data import build_dataset

    common = dict(root=cfg.data.root, seed=cfg.data_seed, **cfg.data.options)
    if split == "train":
        return build_dataset(
            cfg.data.dataset,
            "train",
            tasks=exp.tasks + exp.aux_tasks,
            train=True,
            size=exp.train_size,
            n=cfg.data.n_train,
            **common,
        )
    return build_dataset(
        cfg.data.dataset, split, tasks=exp.tasks, train=False, size=exp.eval_size, n=cfg.data.n_val, **common
    )


def build_model(cfg: RunConfig, exp: Experiment) -> torch.nn.Module:
    return create_model(
        cfg.model.name,
        tasks=exp.tasks,
        aux_tasks=exp.aux_tasks,
        out_channels=exp.spec.out_channels(exp.tasks + exp.aux_tasks),
        backbone=cfg.model.backbone,
        pretrained=cfg.model.pretrained,
        **cfg.model.kwargs,
    )


def measure_cost(model: torch.nn.Module, exp: Experiment, device: torch.device, phase: str) -> dict[str, Any]:
    """Params and GMACs at the evaluation input size, median latency, and the peak memory of this process's
    ``phase`` ('train': the training run, 'eval': ``mtbench eval``; see profiling.peak_memory_mb)."""
    cost = profile_model(model, exp.eval_size, device, memory=False)
    cost["peak_mem_mb"], cost["mem_kind"] = peak_memory_mb(device, phase)
    return cost


def make_record(
    cfg: RunConfig,
    exp: Experiment,
    run_id: str,
    evaluation: Evaluation,
    cost: dict[str, Any],
    device: torch.device,
    checkpoint: str,
    split: str,
    model: torch.nn.Module | None = None,
) -> RunRecord:
    from mtbench.protocol import run_protocol

    notes = list(exp.notes) + [get_task(t).note for t in exp.tasks if get_task(t).note]
    notes += trust_notes()  # checkpoints loaded with a full unpickle (--trust-checkpoint)
    notes += evaluation.notes()  # e.g. the boundary metric's matching radius, thresholds, NMS
    # a {metric: float} dict is a valid {metric: float | None} one (the record validates a copy of it)
    metrics = cast(dict[str, dict[str, float | None]], evaluation.metrics)
    protocol = run_protocol(cfg, exp.tasks, exp.aux_tasks, exp.spec.geometry, model, evaluation.protocols)
    return RunRecord(
        id=run_id,
        model=cfg.model.name,
        backbone=cfg.model.backbone,
        dataset=cfg.data.dataset,
        split=split,
        tasks=exp.tasks,
        aux_tasks=exp.aux_tasks,
        config=cfg.model_dump(mode="json"),
        config_hash=cfg.hash(),
        seed=cfg.run.seed,
        checkpoint=checkpoint,
        metrics=metrics,
        primary={t: metrics[t].get(get_task(t).primary) for t in exp.tasks},
        cost=Cost.model_validate(cost),
        env=Env.model_validate(environment(device)),
        protocol=protocol,
        notes=notes,
        bootstrap={
            t: Bootstrap(metric=b.metric, n_images=b.n_images, seed=b.seed, replicates=b.replicates)
            for t, b in evaluation.bootstrap.items()
        },
    )


def make_curve(cfg: RunConfig, tasks: list[str], points: list[dict[str, Any]]) -> tuple[Curve | None, list[str]]:
    """The record's learning curve from the trainer's points (TrainState.curve): each main task's primary metric
    (NaN as None), the mean total training loss since the previous point; a curve longer than MAX_CURVE_POINTS
    is thinned evenly (first and last kept), with a note. (None, []) when the run has no curve."""
    if not cfg.eval.every_iters or not points:
        return None, []
    notes = []
    if len(points) > MAX_CURVE_POINTS:
        keep = sorted({round(i * (len(points) - 1) / (MAX_CURVE_POINTS - 1)) for i in range(MAX_CURVE_POINTS)})
        notes.append(
            f"curve: {len(points)} points thinned to {len(keep)} in the record (the run folder's {CURVE_CSV} has all)"
        )
        points = [points[i] for i in keep]

    def finite(v: Any) -> float | None:
        return None if v is None or not math.isfinite(v) else float(v)

    primary = {t: get_task(t).primary for t in tasks}
    try:
        curve = Curve(
            split=cfg.eval.split,
            eval_images=int(points[-1].get("eval_images", 0)),
            every_iters=cfg.eval.every_iters,
            points=[
                CurvePoint(
                    iteration=p["iteration"],
                    epoch=p.get("epoch"),
                    images=p["images"],
                    loss=finite(p.get("losses", {}).get("total")),
                    seconds=p.get("seconds"),
                    primary={t: finite(p["metrics"].get(t, {}).get(m)) for t, m in primary.items()},
                )
                for p in points
            ],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a checkpoint's points are data: never trusted
        detail = " ".join(str(e).split())[:200]
        return None, [f"curve: not recorded (malformed points in the checkpoint: {type(e).__name__}: {detail})"]
    return curve, notes


def _write_record(record: RunRecord, cfg: RunConfig, run_dir: Path) -> Path:
    try:
        path = save_record(record, cfg.run.results)
        atomic_write_text(run_dir / "record.json", record.model_dump_json(indent=2) + "\n")
    except RecordError as e:  # e.g. disk full: the result is not lost, the checkpoint can be evaluated again
        raise RecordError(f"{e}; the checkpoint is kept: write the record later with 'mtbench eval {run_dir}'") from e
    return path


def run_one(cfg: RunConfig, resume: Path | None = None) -> tuple[RunRecord, Path]:
    """Train, evaluate, profile and record one model; returns the record and its path. Checkpoints it reads
    (``--pretrained``, ``--resume``, init_from, best.pt) are loaded as data unless ``run.trust_checkpoint``."""
    with trust_scope(cfg.run.trust_checkpoint):
        return _run_one(cfg, resume)


def _run_one(cfg: RunConfig, resume: Path | None) -> tuple[RunRecord, Path]:
    if cfg.run.tensorboard:
        require_tensorboard()  # the optional extra: one line now, not after training
    device = resolve_device(cfg.run.device)
    dist = init_distributed(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    set_cpu_threads(dist.world_size)
    exp = resolve_experiment(cfg)
    if dist.is_main:
        check_writable(cfg.run.results)  # fail now, not after training
    if resume is None:
        run_id = _broadcast(make_run_dir(cfg, exp.tasks) if dist.is_main else None, dist)
        run_dir = Path(cfg.run.runs_dir) / run_id
    else:
        run_dir, run_id = Path(resume), Path(resume).name
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume is not None:  # temp files of a killed writer of this run (its own files only)
            remove_stale_temps(run_dir)
            remove_stale_temps(Path(cfg.run.results) / cfg.data.dataset / cfg.model.name, f"{run_id}.json.")
        atomic_write_text(run_dir / "config.yaml", dump_yaml(cfg))
    t_start = time.perf_counter()
    seed_everything(cfg.run.seed + dist.rank, cfg.run.deterministic)
    train_set, val_set = build_data(cfg, exp, "train"), build_data(cfg, exp, cfg.eval.split)
    model = build_model(cfg, exp)
    reset_peak_memory(device)
    trainer = Trainer(cfg, model, train_set, val_set, exp.spec, exp.tasks, exp.aux_tasks, device, dist, run_dir)
    log.info("data loading: %d worker process(es) (data.workers=%s)", trainer.workers, cfg.data.workers)
    resumed = resume is not None and (run_dir / LAST).exists()
    if resumed:
        trainer.resume(run_dir / LAST)
    if cfg.run.tensorboard and dist.is_main:
        # resumed: the steps after the checkpoint's are written again (all of them without a checkpoint)
        purge = None if resume is None else trainer.state.global_step + 1 if resumed else 0
        trainer.board = Board.open(run_dir, purge)
    setup_s = time.perf_counter() - t_start
    try:
        state, checkpoint, evaluation, eval_s = _train_and_evaluate(cfg, exp, trainer, run_dir)
    finally:  # written out also when training stops (SIGINT/SIGTERM, non-finite loss, errors)
        trainer.board.close()
        trainer.close()  # the loaders' worker processes end here, before profiling
    if not dist.is_main:
        return None, None  # type: ignore[return-value]
    t_profile = time.perf_counter()
    cost = measure_cost(trainer.model, exp, device, "train") if cfg.run.profile else {}
    timings = run_timings(state, setup_s, eval_s, time.perf_counter() - t_profile)
    record = make_record(cfg, exp, run_id, evaluation, cost, device, checkpoint, cfg.eval.split, trainer.model)
    record.timings = timings
    record.curve, curve_notes = make_curve(cfg, exp.tasks, state.curve)
    record.notes += curve_notes
    return record, _write_record(record, cfg, run_dir)


def _train_and_evaluate(
    cfg: RunConfig, exp: Experiment, trainer: Trainer, run_dir: Path
) -> tuple[TrainState, str, Evaluation, float]:
    """Train, then evaluate the reported checkpoint on the whole split; returns the final state, the
    checkpoint's description, the evaluation and its seconds."""
    try:
        state = trainer.fit()
    except torch.cuda.OutOfMemoryError as e:
        raise MtbenchError(
            f"CUDA out of memory at batch size {cfg.train.batch_size} "
            f"(input {exp.train_size[0]}x{exp.train_size[1]}); lower --batch-size"
        ) from e
    if cfg.eval.checkpoint == "best" and (run_dir / BEST).exists():
        from mtbench.engine.checkpoint import load_checkpoint, load_model_weights

        load_model_weights(trainer.model, load_checkpoint(run_dir / BEST, require=("model",))["model"], run_dir / BEST)
        checkpoint = f"best (epoch {state.best_epoch}, selected on {cfg.eval.split})"
    else:
        checkpoint = f"last (epoch {state.epoch})"
    t_eval = time.perf_counter()
    evaluation = trainer.evaluate(bootstrap=DEFAULT_N_BOOT)
    eval_s = time.perf_counter() - t_eval
    trainer.board_evaluation("final", summary_metrics(evaluation.metrics))
    return state, checkpoint, evaluation, eval_s


def run_timings(state: TrainState, setup_s: float, eval_s: float, profile_s: float) -> dict[str, float]:
    """Wall seconds of a run's phases (record ``timings``): setup (datasets and model built), data (training
    waited for batches: loading, rendering, augmenting), train (the rest of the training loop: forward,
    backward, step, checkpoints), val (evaluations during training), eval (the final evaluation), profile
    (parameters, GMACs, latency) and their total. A resumed run counts its earlier parts' loop, data and
    val seconds (kept in the checkpoint) and this process's setup."""
    t = {
        "setup": setup_s,
        "data": state.data_s,
        "train": state.loop_s - state.data_s,
        "val": state.val_s,
        "eval": eval_s,
        "profile": profile_s,
    }
    t["total"] = sum(t.values())
    return {k: round(v, 1) for k, v in t.items()}


def run_experiment(cfg: RunConfig, resume: str | Path | None = None) -> list[tuple[RunRecord, Path]]:
    """``mtbench run``: one run, or one per task for ``single_task`` with several tasks."""
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").exists():
            raise UsageError(f"--resume {run_dir}: not a run folder (no config.yaml)")
        from mtbench.config import load_raw

        trust = cfg.run.trust_checkpoint  # the command line's: a run folder's config never grants trust
        cfg = validate_config(load_raw(str(run_dir / "config.yaml")), origin=str(run_dir / "config.yaml"))
        cfg.run.trust_checkpoint = trust
        return [run_one(cfg, run_dir)]
    return [run_one(c) for c in split_single_task(cfg)]


def load_run(
    run_dir: str | Path, trust: bool = False
) -> tuple[RunConfig, Experiment, torch.nn.Module, dict[str, Any], str]:
    """A run folder's config, experiment and model with the reported checkpoint's weights (best if the run
    reported best, else last), on CPU; returns (cfg, exp, model, checkpoint, checkpoint file name).
    ``trust`` (``--trust-checkpoint``, never the folder's own config): allow a full unpickle of its files."""
    from mtbench.config import load_raw
    from mtbench.engine.checkpoint import load_checkpoint, load_model_weights

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise UsageError(f"{run_dir}: not a run folder (no config.yaml)")
    cfg = validate_config(load_raw(str(run_dir / "config.yaml")), origin=str(run_dir / "config.yaml"))
    cfg.run.trust_checkpoint = bool(trust)
    with trust_scope(cfg.run.trust_checkpoint):
        exp = resolve_experiment(cfg)
        which = reported_checkpoint(run_dir, cfg.eval.checkpoint == "best").name
        ck = load_checkpoint(run_dir / which, require=("model", "train_state"))
        model = build_model(cfg, exp)
        load_model_weights(model, ck["model"], run_dir / which)
    return cfg, exp, model, ck, which


def eval_run(
    run_dir: str | Path, split: str = "val", results: str | None = None, trust: bool = False
) -> tuple[RunRecord, Path]:
    """``mtbench eval``: evaluate a run folder's checkpoint (best if the run reported best) and write its record;
    ``trust``: ``--trust-checkpoint`` (a full unpickle is allowed, and noted in the record)."""
    with trust_scope(trust):
        return _eval_run(Path(run_dir), split, results, trust)


def _eval_run(run_dir: Path, split: str, results: str | None, trust: bool) -> tuple[RunRecord, Path]:
    from mtbench.engine.checkpoint import load_checkpoint
    from mtbench.engine.evaluate import evaluate

    cfg, exp, model, ck, which = load_run(run_dir, trust)
    if results:
        cfg.run.results = results
    device = resolve_device(cfg.run.device)
    set_cpu_threads()
    model.to(device)
    val = build_data(cfg, exp, split)
    generated = generated_on_the_fly(exp.spec, cfg.data.root)
    loader = eval_loader(
        val, cfg.eval.batch_size, resolve_workers(cfg.data.workers, device=device, generated=generated), device
    )
    t_eval = time.perf_counter()
    evaluation = evaluate(
        model,
        loader,
        exp.tasks,
        exp.spec,
        device,
        amp=cfg.train.amp,
        options=cfg.eval.options,
        bootstrap=DEFAULT_N_BOOT,
    )
    eval_s = time.perf_counter() - t_eval
    st = ck["train_state"] if isinstance(ck["train_state"], dict) else {}
    checkpoint = (
        f"{'best' if which == BEST else 'last'} (epoch {st.get('best_epoch') if which == BEST else st.get('epoch')})"
    )
    t_profile = time.perf_counter()
    cost = measure_cost(model, exp, device, "eval") if cfg.run.profile else {}
    profile_s = time.perf_counter() - t_profile
    run_id = run_dir.name if split == cfg.eval.split else f"{run_dir.name}-{split}"
    record = make_record(cfg, exp, run_id, evaluation, cost, device, checkpoint, split, model)
    record.timings = {"eval": round(eval_s, 1), "profile": round(profile_s, 1), "total": round(eval_s + profile_s, 1)}
    # the training's learning curve, complete in the last checkpoint (best.pt holds it up to its epoch)
    last = ck if which == LAST else (load_checkpoint(run_dir / LAST) if (run_dir / LAST).exists() else {})
    points = last["train_state"].get("curve") if isinstance(last.get("train_state"), dict) else None
    record.curve, curve_notes = make_curve(cfg, exp.tasks, points if isinstance(points, list) else [])
    record.notes += curve_notes
    return record, _write_record(record, cfg, run_dir)
