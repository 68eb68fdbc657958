"""Sweeps: run a preset list of models × seeds (the leaderboard's benchmark), skipping finished runs.

Each run is a separate ``python -m mtbench run`` process (a crash or kill loses one run, not the sweep),
``jobs`` at a time, the CPU cores shared among them. A run whose record (same model, seed and config
hash) already exists in the results folder is skipped, so an interrupted sweep continues where it stopped.
``mtbench.slurm`` submits the same runs as cluster jobs (``--executor slurm``).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mtbench.config import RunConfig, build_config, validate_config
from mtbench.errors import MtbenchError, UsageError, unknown_name
from mtbench.reporting.results import RunKey, load_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    model: str
    sets: tuple[str, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class Preset:
    description: str
    entries: tuple[Entry, ...]
    sets: tuple[str, ...] = ()  # --set items applied to every run of the preset
    config: str | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    notes: list[str] = field(default_factory=list)
    name: str = ""  # for log file names when the preset is not one of PRESETS


_DEFAULT_MODELS = (
    Entry("single_task"),
    Entry("mtl"),
    Entry("padnet"),
    Entry("mtinet"),
    Entry("mtinet", ("model.kwargs.fpm=false",), "mtinet (no FPM)"),
)
_CI_SETS = (
    "data.n_train=16",
    "data.n_val=32",
    "data.train_size=[64,96]",
    "train.epochs=2",
    "train.batch_size=4",
    "eval.batch_size=8",
    "run.profile=false",
    "train.warmup_iters=0",
    # the scenes follow the run's seed (0), as when the references were made: the same scenes as data.seed=0
    "data.seed=null",
)
_BUDGET_MODELS = (Entry("single_task"), Entry("mtl"), Entry("padnet"), Entry("mtinet"))


def _curve(iterations: int) -> tuple[str, ...]:
    """A learning curve for the benchmark's runs: 8 points over ``iterations`` on 100 val scenes (not hashed: a
    record with a curve and one without are the same experiment; about 5 % more time at one thread)."""
    return (f"eval.every_iters={max(1, iterations // 8)}", "eval.curve_images=100")


def _budget(iterations: int, seeds: tuple[int, ...] = (0, 1, 2), sets: tuple[str, ...] = (), what: str = "") -> Preset:
    """The default benchmark at another training budget: ``iterations`` of batch 8 on as many fresh scenes
    (one epoch; the warm-up stays 40 iterations, the poly decay spans the budget). Any ``budget-<N>`` names one."""
    return Preset(
        what or f"budget study: the default benchmark trained {iterations} iterations ({iterations * 8} fresh scenes)",
        _BUDGET_MODELS,
        sets=(f"data.n_train={iterations * 8}", *_curve(iterations), *sets),
        seeds=seeds,
        name=f"budget-{iterations}",
    )


PRESETS: dict[str, Preset] = {
    "default": Preset(
        "the default benchmark (mtbench run defaults) for every model of the leaderboard",
        _DEFAULT_MODELS,
        sets=_curve(384),
        seeds=(0, 1, 2, 3, 4),
    ),
    # the budget study's CPU points beside the default's 384 (results/budget/README.md: why these); any other
    # budget-<N> is made on demand by _budget
    "budget-192": _budget(192),
    "budget-768": _budget(768),
    # The same benchmark on one GPU, extending the budget curve 16x past the default (records under
    # results/budget/ join the study's plot): 6144 iterations x 5 networks x 3 seeds, scenes rendered by 8 workers.
    "gpu": _budget(
        6144,
        sets=("run.device=cuda", "data.workers=8"),
        what="budget study on a GPU: the default benchmark trained 6144 iterations (49152 fresh scenes)",
    ),
    # CI regression benchmark, in two parts checked against results/reference/{trained,init}/:
    # "ci" trains 8 iterations (numerical noise moves its metrics by ~1 %: loose tolerances catch gross
    # failures); "ci-init" evaluates the same models at initialisation (train.max_iters=0): deterministic
    # to ~1e-3 relative across thread counts, a fingerprint of what each model computes (tight tolerances).
    "ci": Preset(
        "CI regression benchmark: a short fixed-seed run of three models on small synthetic data",
        (Entry("mtl"), Entry("padnet"), Entry("mtinet")),
        sets=_CI_SETS,
        seeds=(0,),
    ),
    "ci-init": Preset(
        "CI regression benchmark: the same three models evaluated at initialisation",
        (Entry("mtl"), Entry("padnet"), Entry("mtinet")),
        sets=(*_CI_SETS, "train.max_iters=0"),
        seeds=(0,),
    ),
}


def _existing(results: Path) -> set[RunKey]:
    if not results.exists():
        return set()
    return {r.key.run for r in load_records(results) if r.status == "complete"}


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (PRESETS), or the given Preset itself (e.g. a paper table's rows)."""
    if isinstance(preset, Preset):
        return preset
    m = re.fullmatch(r"budget-([1-9][0-9]{0,6})", preset)
    if preset not in PRESETS and m:
        return _budget(int(m.group(1)))
    if preset not in PRESETS:
        raise unknown_name("preset", preset, PRESETS)
    return PRESETS[preset]


def entry_sets(p: Preset, e: Entry, seed: int, results: Path, extra_sets: list[str]) -> list[str]:
    """The --set items of one run of a preset: preset, entry, extra, then seed, results folder, quiet."""
    return [
        *p.sets,
        *e.sets,
        f"train.checkpoint_every_iters={CHECKPOINT_EVERY}",
        *extra_sets,
        f"run.seed={seed}",
        f"run.results={results}",
        "run.quiet=true",
    ]


def record_keys(p: Preset, e: Entry, seed: int, results: Path, extra_sets: list[str]) -> list[RunKey]:
    """The run keys (model, seed, config hash) of the record(s) one run of a preset writes (one per task for
    single_task): how ``plan`` recognises finished runs and ``mtbench reproduce`` finds their records."""
    from mtbench.engine.run import split_single_task

    cfg = build_config(p.config, [*entry_sets(p, e, seed, results, extra_sets), f"model.name={e.model}"])
    return [RunKey.of_config(c) for c in split_single_task(cfg)]


CHECKPOINT_EVERY = 50
"""Iterations between the checkpoints of a sweep's runs (``train.checkpoint_every_iters``, not in the config
hash): a run killed with its session resumes from at most this many iterations back."""


def resumable(runs_dir: Path, cfg: RunConfig) -> Path | None:
    """The newest run folder under ``runs_dir`` of this very experiment (config hash) that has a checkpoint and no
    record yet (a run killed before it finished), or None."""
    from mtbench.config import load_raw
    from mtbench.engine.trainer import LAST

    found = []
    for d in runs_dir.glob("*/") if runs_dir.is_dir() else []:
        if not (d / "config.yaml").is_file() or not (d / LAST).is_file() or (d / "record.json").exists():
            continue
        try:
            other = validate_config(load_raw(str(d / "config.yaml")), origin=str(d / "config.yaml"))
        except MtbenchError:
            continue
        if other.hash() == cfg.hash() and other.model.name == cfg.model.name:
            found.append(d)
    return max(found, key=lambda d: (d / LAST).stat().st_mtime) if found else None


@dataclass
class PlannedRun:
    """One run of a preset (an entry at a seed) and the ``mtbench run`` argument lists still to do for it (empty:
    every record it writes exists)."""

    label: str
    seed: int
    todo: list[list[str]]

    @property
    def name(self) -> str:
        return f"{self.label} seed {self.seed}"


def _entry_todo(model: str, config: str | None, sets: list[str], done: set[RunKey] | None = None) -> list[list[str]]:
    """The ``mtbench run`` argument lists still to do for one run (``model`` with these ``--set`` items): none
    when its records exist (``done``: the finished runs of its results folder, read when None), ``run --resume
    <folder>`` where a killed run of the same experiment left a checkpoint, else the run itself (a single_task
    entry with some tasks recorded: the missing ones)."""
    from mtbench.engine.run import split_single_task

    base = ["run", "--model", model] + (["--config", config] if config else [])
    configs = split_single_task(build_config(config, [*sets, f"model.name={model}"]))
    if done is None:
        done = _existing(Path(configs[0].run.results))
    missing = [c for c in configs if RunKey.of_config(c) not in done]
    if not missing:
        return []
    resume = {id(c): resumable(Path(c.run.runs_dir), c) for c in missing}
    if len(missing) == len(configs) and not any(resume.values()):
        return [base + [x for s in sets for x in ("--set", s)]]
    todo = []
    for c in missing:
        if resume[id(c)] is not None:
            todo.append(["run", "--resume", str(resume[id(c)])])
        else:
            one = [*sets, f"data.tasks=[{','.join(c.data.tasks or [])}]", "data.aux_tasks=[]"]
            todo.append(base + [x for s in (one if len(configs) > 1 else sets) for x in ("--set", s)])
    return todo


def remaining(runs: list[list[str]]) -> list[list[str]]:
    """What is still to do of ``mtbench run`` argument lists that ``plan`` made, now: a ``run --resume <folder>``
    whose folder holds its record is done; any other list is planned again (its records exist: nothing; a killed
    attempt left a checkpoint: ``run --resume``). What a job that was pre-empted, requeued or resubmitted runs."""
    out: list[list[str]] = []
    for args in runs:
        if args[:2] == ["run", "--resume"] and len(args) == 3:
            if not (Path(args[2]) / "record.json").exists():
                out.append(list(args))
            continue
        model, config, sets = _parse_run_args(args)
        out += _entry_todo(model, config, sets)
    return out


def _parse_run_args(args: list[str]) -> tuple[str, str | None, list[str]]:
    """(model, config, --set items) of a ``run --model M [--config C] --set ...`` list that ``plan`` made."""
    if not args or args[0] != "run" or len(args) % 2 != 1:
        raise UsageError(f"not a planned run: mtbench {' '.join(args)}")
    model, config, sets = None, None, []
    for opt, value in zip(args[1::2], args[2::2]):
        if opt == "--model":
            model = value
        elif opt == "--config":
            config = value
        elif opt == "--set":
            sets.append(value)
        else:
            raise UsageError(f"not a planned run (option {opt}): mtbench {' '.join(args)}")
    if model is None:
        raise UsageError(f"not a planned run (no --model): mtbench {' '.join(args)}")
    return model, config, sets


def plan_runs(preset: str | Preset, seeds: list[int] | None, results: Path, extra_sets: list[str]) -> list[PlannedRun]:
    """Every run of the preset (entries x seeds) with what is still to do for it (see ``_entry_todo``)."""
    p = get_preset(preset)
    done = _existing(results)
    out = []
    for seed in seeds if seeds is not None else p.seeds:
        for e in p.entries:
            todo = _entry_todo(e.model, p.config, entry_sets(p, e, seed, results, extra_sets), done)
            if not todo:
                log.info("skip %s seed %d: record exists", e.label or e.model, seed)
            out.append(PlannedRun(e.label or e.model, seed, todo))
    return out


def plan(preset: str | Preset, seeds: list[int] | None, results: Path, extra_sets: list[str]) -> list[list[str]]:
    """The ``mtbench run`` argument lists still to do: a fresh run, or ``run --resume <folder>`` where a killed run
    of the same experiment left a checkpoint (a single_task entry with some tasks recorded: the missing ones)."""
    return [args for r in plan_runs(preset, seeds, results, extra_sets) for args in r.todo]


def run_sweep(
    preset: str | Preset = "default",
    *,
    seeds: list[int] | None = None,
    results: Path | str = "results",
    jobs: int = 1,
    extra_sets: list[str] | None = None,
    dry_run: bool = False,
    on_done: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> list[list[str]]:
    """Run what ``plan`` lists, ``jobs`` processes at a time, each with ``threads`` CPU threads (default: the
    cores shared among the jobs; 1 keeps a run steady beside other work on a small machine); returns the
    commands (run or, dry, to run).
    ``on_done`` receives one line per finished run (default: logged at INFO)."""
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be >= 1")
    results = Path(results)
    todo = plan(preset, seeds, results, list(extra_sets or []))
    if dry_run or not todo:
        return todo
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: must be >= 1")
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log_dir = Path("runs") / "sweep-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    def one(i_args: tuple[int, list[str]]) -> tuple[list[str], int]:
        i, args = i_args
        log_file = log_dir / f"{get_preset(preset).name or preset}-{i:03d}.log"
        start = time.monotonic()
        with open(log_file, "w") as f:
            rc = subprocess.run(
                [sys.executable, "-m", "mtbench", *args], stdout=f, stderr=subprocess.STDOUT, env=env
            ).returncode
        what = f"[{i + 1}/{len(todo)}] mtbench {' '.join(args)}: {time.monotonic() - start:.0f} s"
        if rc:
            log.error("%s, exit %d (log: %s)", what, rc, log_file)
        else:
            (on_done or log.info)(f"{what}, done")
        return args, rc

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = list(pool.map(one, enumerate(todo)))
    failed = [a for a, rc in outcomes if rc != 0]
    if failed:
        raise MtbenchError(f"{len(failed)} of {len(todo)} runs failed; logs in {log_dir}")
    return todo
