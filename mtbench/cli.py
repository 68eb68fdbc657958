"""The ``mtbench`` command line. Thin: parse options, call one library function, print.

Errors derived from MtbenchError print as one line (exit 1; usage errors exit 2); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from mtbench.errors import MtbenchError

app = typer.Typer(
    name="mtbench",
    help="Benchmark suite and leaderboard for multi-task dense prediction.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)
TRUST_HELP = (
    "Allow a full unpickle of checkpoints that the safe loader refuses (old-format mtbench checkpoints, "
    "foreign checkpoints with unknown objects). It runs any code in the file: only for files you trust; "
    "the record notes it."
)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    # ``debug`` is declared here for --help and parsing; main() reads --debug from argv itself
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


class ListWhat(str, Enum):
    models = "models"
    tasks = "tasks"
    datasets = "datasets"
    backbones = "backbones"


@app.command("list")
def list_cmd(what: ListWhat | None = typer.Argument(None, help="models, tasks, datasets or backbones")) -> None:
    """List registered models, tasks, datasets and backbones."""
    from mtbench.catalog import catalog
    from mtbench.registry import model_info

    for section, rows in catalog(what.value if what else None).items():
        console.print(f"[bold]{section}[/bold]")
        for name, desc in rows:
            console.print(f"  {name:<22} {desc}", soft_wrap=True, highlight=False)
            if section == "models":  # the model's descriptor, under its description
                console.print(f"  {'':<22} {model_info(name).facts()}", soft_wrap=True, highlight=False, markup=False)


config_app = typer.Typer(
    help="Experiment configs: recipes in mtbench/configs/ plus --set overrides.", no_args_is_help=True
)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    config: str | None = typer.Argument(None, help="Recipe name or YAML path."),
    set_: list[str] | None = typer.Option(None, "--set", help="Override, e.g. train.lr=1e-3."),
) -> None:
    """Print the resolved config (YAML) and its hash."""
    from mtbench.config import build_config, dump_yaml

    cfg = build_config(config, set_)
    console.print(dump_yaml(cfg) + f"# config_hash: {cfg.hash()}", soft_wrap=True, highlight=False, markup=False)


@config_app.command("list")
def config_list() -> None:
    """List the named recipes."""
    from mtbench.config import list_configs

    for name in list_configs():
        console.print(name, highlight=False)


data_app = typer.Typer(
    help="Data: write synthetic scenes, validate a dataset folder, time its loading.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


@data_app.command("synth")
def data_synth(
    out: Path = typer.Option(..., "--out", help="Folder to write (NYUD layout + contact_sheet.png)."),
    n: int = typer.Option(16, "--n", help="Number of scenes (the last quarter is the val split)."),
    size: str = typer.Option("128x160", "--size", help="Image size HxW (NYUD's: 480x640; PASCAL's: about 375x500)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the scene generator."),
    layout: str = typer.Option(
        "nyud",
        "--layout",
        help="nyud, or pascal_context (PASCAL_MT's files: JPEG, PNG, .mat; read with --dataset pascal_context).",
    ),
) -> None:
    """Write synthetic scenes to disk in the NYUD layout (or PASCAL-Context's), plus a PNG contact sheet."""
    from mtbench.data import parse_size, write_synthetic

    s = write_synthetic(out, n=n, size=parse_size(size), seed=seed, layout=layout)
    console.print(
        f"wrote {s.counts['train']} train + {s.counts['val']} val scenes "
        f"({s.size[0]}x{s.size[1]}, {s.layout} layout) to {s.out}; contact sheet {s.contact_sheet}",
        highlight=False,
    )


@data_app.command("check")
def data_check(
    path: Path = typer.Argument(..., help="Dataset root folder."),
    dataset: str = typer.Option("nyud", "--dataset", help="nyud, pascal_context or synthetic."),
) -> None:
    """Validate a dataset folder (files, sizes, label ranges, depth, normals); exit 1 on problems."""
    from rich.table import Table

    from mtbench.data import check_dataset
    from mtbench.errors import DataError

    report = check_dataset(dataset, path)
    header, rows = report.table()
    table = Table(*header, title=f"{dataset}: {path}")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for problem in report.problems:
        err_console.print(problem, highlight=False, soft_wrap=True, markup=False)
    if not report.ok:
        raise DataError(f"{len(report.problems)} problem(s) found in '{path}'.")


@data_app.command("bench")
def data_bench(
    dataset: str = typer.Option("nyud", "--dataset", help="nyud, pascal_context or synthetic."),
    data_root: str | None = typer.Option(
        None, "--data-root", help="Dataset folder (synthetic without one: scenes rendered on the fly)."
    ),
    split: str = typer.Option("train", "--split", help="train (the training augmentation) or val."),
    workers: str = typer.Option("0,1,2", "--workers", help="Worker counts to time, comma-separated."),
    batch: int = typer.Option(8, "--batch", help="Batch size."),
    n: int = typer.Option(64, "--n", help="Samples per timed epoch (the first n of the split)."),
    train_size: str | None = typer.Option(None, "--train-size", help="Input size H,W (default: the dataset's)."),
    tasks: list[str] | None = typer.Option(None, "--tasks", help="Tasks to load (default: all the dataset has)."),
    config: str | None = typer.Option(
        None, "--config", help="Recipe whose data settings apply (default: the dataset's own recipe)."
    ),
    stages: bool = typer.Option(True, "--stages/--no-stages", help="Time each stage in the main process."),
) -> None:
    """Samples/s of the training loader as the trainer builds it, per worker count (and per stage)."""
    from rich.table import Table

    from mtbench.data import parse_size
    from mtbench.engine.data_bench import TABLE_CAPTION, bench_data, parse_workers

    size = parse_size(train_size.replace(",", "x")) if train_size else None
    res = bench_data(
        dataset,
        data_root,
        split=split,
        workers=parse_workers(workers),
        batch=batch,
        n=n,
        train_size=size,
        tasks=_task_list(tasks),
        config=config,
        stages=stages,
        progress=lambda text: err_console.print(f"timing {text} ...", highlight=False),
    )
    console.print(res.header(), highlight=False, soft_wrap=True)
    header, rows = res.table()
    table = Table(*header, title="loader throughput", caption=TABLE_CAPTION)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if res.stages:
        stages_table = Table("stage (main process, one sample at a time)", "ms/sample", "CPU ms", title="stages")
        for name, (ms, cpu_ms) in res.stages.items():
            stages_table.add_row(name, f"{ms:.1f}", f"{cpu_ms:.1f}")
        console.print(stages_table)


def _task_list(values: list[str] | None) -> list[str] | None:
    """'--tasks semseg,depth' or repeated '--tasks semseg --tasks depth'; 'none' means an empty list."""
    if values is None:
        return None
    items = [t.strip() for v in values for t in v.split(",") if t.strip()]
    return [] if items in (["none"], []) else items


@app.command("run")
def run_cmd(
    model: str | None = typer.Option(None, "--model", "-m", help="Registered model (mtbench list models)."),
    dataset: str | None = typer.Option(None, help="synthetic (default), nyud or pascal_context."),
    data_root: str | None = typer.Option(None, help="Dataset folder (nyud, pascal_context)."),
    backbone: str | None = typer.Option(
        None, help="hrnet18, hrnet48, resnet18, resnet50, timm:<name> or mmseg:<type|config> (OpenMMLab extra)."
    ),
    pretrained: str | None = typer.Option(None, help="'true' (timm hub/cache) or a checkpoint path."),
    tasks: list[str] | None = typer.Option(None, help="Main tasks, comma-separated."),
    aux_tasks: list[str] | None = typer.Option(None, help="Auxiliary tasks, comma-separated ('none' for none)."),
    epochs: int | None = typer.Option(None),
    batch_size: int | None = typer.Option(None),
    seed: int | None = typer.Option(None),
    device: str | None = typer.Option(None, help="cpu, cuda or auto."),
    config: str | None = typer.Option(None, help="Recipe name (mtbench/configs) or YAML path."),
    set_: list[str] | None = typer.Option(None, "--set", help="Override, e.g. --set train.lr=1e-3."),
    results: str | None = typer.Option(None, help="Results folder (default results/)."),
    resume: Path | None = typer.Option(None, help="Continue the run in this run folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (CI)."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help=TRUST_HELP),
) -> None:
    """Train, evaluate, profile and record a model (default: MTI-Net on the embedded synthetic data)."""
    from mtbench.config import build_config
    from mtbench.engine.run import run_experiment

    pre = {"true": True, "false": False}.get(pretrained.lower(), pretrained) if pretrained else None
    cfg = build_config(
        config,
        set_,
        **{
            "model.name": model,
            "data.dataset": dataset,
            "data.root": data_root,
            "model.backbone": backbone,
            "model.pretrained": pre,
            "data.tasks": _task_list(tasks),
            "data.aux_tasks": _task_list(aux_tasks),
            "train.epochs": epochs,
            "train.batch_size": batch_size,
            "run.seed": seed,
            "run.device": device,
            "run.results": results,
            "run.quiet": quiet or None,
            "run.trust_checkpoint": trust_checkpoint or None,
        },
    )
    for record, path in run_experiment(cfg, resume):
        if record is not None:
            _print_run_summary(record, path)


@app.command("eval")
def eval_cmd(
    run_dir: Path = typer.Argument(..., help="A run folder (runs/<id>)."),
    split: str = typer.Option("val", help="Split to evaluate."),
    results: str | None = typer.Option(None, help="Results folder (default: the run's)."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help=TRUST_HELP),
) -> None:
    """Evaluate a saved checkpoint and write (or update) its result record."""
    from mtbench.engine.run import eval_run

    _print_run_summary(*eval_run(run_dir, split, results, trust=trust_checkpoint))


@app.command("affinity")
def affinity_cmd(
    run: Path = typer.Argument(..., help="A run folder (runs/<id>) or its result record (.json)."),
    scales: str = typer.Option(
        "all", "--scales", help="all, or comma-separated scales (1/4), stages (initial, distilled, head) or both."
    ),
    images: int = typer.Option(16, "--images", help="The first N images of the run's evaluation split."),
    positions: int = typer.Option(256, "--positions", help="Spatial positions sampled per image and feature map."),
    out: Path | None = typer.Option(None, "--out", help="Folder for affinity.json/png (default <RUN>/affinity)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help=TRUST_HELP),
) -> None:
    """Similarity (linear CKA) of a multi-task model's task features at each scale: before and after
    distillation (MTI-Net, PAD-Net) and at each task head's classifier; a heatmap per scale and a JSON."""
    from mtbench.analysis.affinity import affinity, write_affinity

    result = affinity(run, images, scales, positions, device, trust_checkpoint)
    for line in result.change_lines():
        console.print(line, highlight=False, soft_wrap=True, markup=False)
    for p in write_affinity(result, out or result.run_dir / "affinity"):
        console.print(f"wrote {p}", highlight=False, soft_wrap=True)


checkpoint_app = typer.Typer(help="mtbench checkpoints: convert old-format files.", no_args_is_help=True)
app.add_typer(checkpoint_app, name="checkpoint")


@checkpoint_app.command("convert")
def checkpoint_convert(
    paths: list[Path] = typer.Argument(..., help="Checkpoint files or run folders (their checkpoint.pt and best.pt)."),
    trust_checkpoint: bool = typer.Option(
        False,
        "--trust-checkpoint",
        help="Required for an old-format file: it is read with a full unpickle, "
        "which runs any code in it (only for files you trust).",
    ),
) -> None:
    """Rewrite checkpoints of the old format in the current one (atomically), so they load without
    --trust-checkpoint; files already in the current format are left unchanged."""
    from mtbench.engine.checkpoint import convert_checkpoint
    from mtbench.engine.trainer import BEST, LAST
    from mtbench.safeload import CheckpointError, trust_scope

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = [p / n for n in (LAST, BEST) if (p / n).is_file()]
            if not found:
                raise CheckpointError(f"{p}: no {LAST} or {BEST} in this folder")
            files += found
        else:
            files.append(p)
    with trust_scope(trust_checkpoint):
        for f in files:
            console.print(convert_checkpoint(f), highlight=False, soft_wrap=True, markup=False)


class TableFormat(str, Enum):
    github = "github"
    latex = "latex"
    csv = "csv"
    html = "html"
    json = "json"


class CheckFormat(str, Enum):
    text = "text"
    github = "github"


@app.command("table")
def table_cmd(
    results: Path = typer.Option(Path("results"), "--results", help="Results folder (reference/ and gpu/ skipped)."),
    dataset: str | None = typer.Option(None, help="Only this dataset."),
    backbone: str | None = typer.Option(None, help="Only this backbone."),
    fmt: TableFormat = typer.Option("github", "--format", help="Output format."),
    out: Path | None = typer.Option(None, "--out", help="Write to FILE (atomically) instead of stdout."),
    power: float | None = typer.Option(
        None,
        "--power",
        help="Add the seeds each row would need to resolve a Δm difference of this many points (95 %% interval "
        "half-width, and 80 %% power), from its measured spread.",
    ),
) -> None:
    """Leaderboard from result records: metrics and Δm (mean ± 95 % interval, n), cost; sorted by Δm. Bold:
    best per column and rows statistically tied with it; ▲/▼: Δm's interval above/below 0."""
    from mtbench.reporting.leaderboard import leaderboard

    text = leaderboard(results, dataset=dataset, backbone=backbone, fmt=fmt.value, out=out, power=power)
    typer.echo(f"wrote {out}" if out else text, nl=bool(out))


@app.command("check")
def check_cmd(
    reference: Path = typer.Option(..., "--reference", help="Reference record folder or file."),
    results: Path = typer.Option(Path("results"), "--results", help="Measured records (reference/ and gpu/ skipped)."),
    rel_tol: float | None = typer.Option(
        None,
        "--rel-tol",
        help="Relative tolerance (fraction of |reference|; default: the reference's tolerances.yaml, else 0.02).",
    ),
    abs_tol: float | None = typer.Option(
        None, "--abs-tol", help="Absolute tolerance (default: tolerances.yaml, else 0)."
    ),
    tol: list[str] | None = typer.Option(None, "--tol", help="Per-metric absolute tolerance TASK.METRIC=TOL."),
    fmt: CheckFormat = typer.Option("text", "--format", help="text or github (markdown for a PR)."),
) -> None:
    """Compare measured records with reference records; exit 1 on a regression or an unmatched record."""
    from mtbench.reporting.regression import run_check

    result = run_check(reference, results, rel_tol=rel_tol, abs_tol=abs_tol, overrides=tol)
    typer.echo(result.render(fmt.value), nl=False)
    if not result.ok:
        raise SystemExit(1)


def _print_run_summary(record, path: Path) -> None:
    from mtbench.reporting.report import run_summary

    console.print(run_summary(record, path), soft_wrap=True, highlight=False)


@app.command("profile")
def profile_cmd(
    model: str | None = typer.Option(None, "--model", "-m", help="Registered model (mtbench list models)."),
    dataset: str | None = typer.Option(None, help="synthetic (default), nyud or pascal_context (no files needed)."),
    backbone: str | None = typer.Option(
        None, help="hrnet18, hrnet48, resnet18, resnet50, timm:<name> or mmseg:<type|config> (OpenMMLab extra)."
    ),
    tasks: list[str] | None = typer.Option(None, help="Main tasks, comma-separated."),
    aux_tasks: list[str] | None = typer.Option(None, help="Auxiliary tasks, comma-separated ('none' for none)."),
    input_: str | None = typer.Option(
        None, "--input", help="HxW, multiples of 32 (data.train_size, the evaluation input; default: the config's)."
    ),
    device: str | None = typer.Option(None, help="cpu, cuda or auto."),
    config: str | None = typer.Option(None, help="Recipe name (mtbench/configs) or YAML path."),
    set_: list[str] | None = typer.Option(None, "--set", help="Override, e.g. --set model.kwargs.fpm=false."),
    by_module: bool = typer.Option(False, "--by-module", help="GMACs and params per top-level module."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Params and GMACs (one multiply-add = one MAC) of the model 'mtbench run' would train with the same
    options; on CUDA also memory and latency."""
    import json

    from mtbench.config import build_config
    from mtbench.profiling import format_profile, parse_input, profile_config

    hw = parse_input(input_) if input_ else None
    cfg = build_config(
        config,
        set_,
        **{
            "model.name": model,
            "data.dataset": dataset,
            "model.backbone": backbone,
            "data.tasks": _task_list(tasks),
            "data.aux_tasks": _task_list(aux_tasks),
            "data.train_size": list(hw) if hw else None,
            "run.device": device,
        },
    )
    res = profile_config(cfg, by_module=by_module)
    console.print(json.dumps(res) if json_ else format_profile(res), soft_wrap=True, highlight=False)


@app.command("leaderboard")
def leaderboard_cmd(
    results: Path = typer.Option(Path("results"), help="Results folder."),
    out: Path = typer.Option(Path("results/LEADERBOARD.md"), help="Page to write."),
    check: bool = typer.Option(False, "--check", help="Only verify the page is up to date (CI)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Also write the Pareto PNGs."),
    site: Path | None = typer.Option(
        None,
        "--site",
        help="Instead of the page: write a static HTML site into DIR (sortable tables, plots, a page per run).",
    ),
) -> None:
    """Write results/LEADERBOARD.md (one table per dataset) and its Pareto plots, or --check it is current.
    With --site DIR: the static site (index.html, runs/<id>.html, img/) instead, or --check that DIR is current."""
    from mtbench.reporting.page import check_page, write_page

    if site is not None:
        from mtbench.reporting.site import check_site, write_site

        if check:
            check_site(results, site)
            console.print(f"{site} is up to date", highlight=False, soft_wrap=True)
        else:
            written = write_site(results, site)
            console.print(f"wrote {len(written)} files into {site}", highlight=False, soft_wrap=True)
        return
    if check:
        check_page(results, out)
        console.print(f"{out} is up to date")
    else:
        for p in write_page(results, out, plots):
            console.print(f"wrote {p}", highlight=False, soft_wrap=True)


class CurveX(str, Enum):
    iteration = "iteration"
    images = "images"
    epoch = "epoch"


@app.command("plot")
def plot_cmd(
    sources: list[Path] | None = typer.Argument(
        None, help="With --curves: record files, run folders (runs/<id>) or folders of them (results/, runs/)."
    ),
    curves: bool = typer.Option(
        False,
        "--curves",
        help="Learning curves of SOURCES (runs with eval.every_iters > 0) instead of the Pareto plot.",
    ),
    task: list[str] | None = typer.Option(
        None, "--task", help="With --curves: only these main tasks, comma-separated."
    ),
    x: CurveX = typer.Option("iteration", "--x", help="With --curves: the x axis, iteration, images or epoch."),
    dataset: str = typer.Option("synthetic", help="Dataset whose rows to plot."),
    results: Path = typer.Option(Path("results"), help="Results folder."),
    backbone: str | None = typer.Option(None, help="Only this backbone."),
    out: Path | None = typer.Option(
        None, help="PNG path (default results/pareto_<dataset>.png; with --curves: curves.png)."
    ),
) -> None:
    """Pareto plot: Δm vs GMACs, marker size = params, measured rows. With --curves: validation primary
    metric against iterations, one panel per main task, one line per run
    (mtbench plot --curves runs/<id> runs/<id2> --out curves.png)."""
    from mtbench.errors import UsageError

    if curves:
        from mtbench.reporting.plots import curves_plot

        if not sources:
            raise UsageError("--curves: name record files, run folders or results folders, e.g. --curves runs/<id>")
        path = curves_plot(sources, out or Path("curves.png"), tasks=_task_list(task), x=x.value)
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
        return
    if sources or task:
        raise UsageError("plot: record or run paths and --task go with --curves (the Pareto plot reads --results)")
    from mtbench.reporting.plots import pareto_plot

    console.print(f"wrote {pareto_plot(results, dataset, out or results / f'pareto_{dataset}.png', backbone=backbone)}")


@app.command("show")
def show_cmd(
    runs: list[Path] = typer.Argument(
        ..., help="Run folders (runs/<id>) or their record JSONs; they share dataset and tasks."
    ),
    n: int = typer.Option(8, "--n", help="Number of images (rows)."),
    split: str = typer.Option("val", help="Split to show."),
    worst: str | None = typer.Option(
        None, "--worst", help="Show the N images where the first run's per-image primary metric of this task is worst."
    ),
    out: Path | None = typer.Option(None, "--out", help="PNG path (default show.png)."),
    attach: bool = typer.Option(
        False,
        "--attach",
        help="Save the grid beside the first RUN's record JSON (<id>.show.png), where 'mtbench leaderboard --site' "
        "puts it on the run's page; the first RUN must then be that record JSON.",
    ),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help=TRUST_HELP),
) -> None:
    """Predictions side by side: per image, the ground truth and each run's prediction of every main task,
    titled with that image's own primary metric (runs evaluated on CPU from their checkpoints)."""
    from mtbench.analysis.show import attached_grid, show
    from mtbench.errors import UsageError

    if attach and out is not None:
        raise UsageError("show: give either --out or --attach, not both")
    if attach:
        out = attached_grid(runs[0])
    path = show(list(runs), out or Path("show.png"), n=n, split=split, worst=worst, trust=trust_checkpoint)
    console.print(f"wrote {path}", highlight=False, soft_wrap=True)


class SweepExecutor(str, Enum):
    local = "local"
    slurm = "slurm"
    submitit_local = "submitit-local"


@app.command("sweep")
def sweep_cmd(
    preset: str = typer.Option(
        "default", help="default (leaderboard benchmark), ci, ci-init, budget-<iterations> (budget study) or gpu."
    ),
    seeds: str | None = typer.Option(None, help="Comma-separated seeds (default: the preset's)."),
    results: Path = typer.Option(Path("results"), help="Results root (records land in <root>/<dataset>/<model>/)."),
    jobs: int = typer.Option(1, help="Runs in parallel (the CPU cores are shared among them); --executor local."),
    threads: int | None = typer.Option(
        None,
        help="CPU threads per run (default: cores / jobs; 1 keeps runs steady beside other work); with jobs: "
        "the CPUs each job asks for (cpus_per_task).",
    ),
    set_: list[str] | None = typer.Option(None, "--set", help="Extra override for every run."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list the runs still to do."),
    executor: SweepExecutor = typer.Option(
        SweepExecutor.local,
        help="local: subprocesses here; slurm: one Slurm job per run (a job array, through submitit; needs the "
        "\\[slurm] extra); submitit-local: the same jobs as local processes, all at once (the Slurm path "
        "without Slurm).",
    ),
    partition: str | None = typer.Option(None, help="Slurm partition of the jobs (default: the cluster's)."),
    gpus_per_run: int | None = typer.Option(
        None, "--gpus-per-run", help="GPUs per job (default 1 on slurm, 0 on submitit-local); > 1: torchrun in the job."
    ),
    time_: str | None = typer.Option(
        None, "--time", help="Job time limit: minutes, H:MM:SS or D-H:MM:SS (needed by --executor slurm)."
    ),
    array_parallelism: int | None = typer.Option(
        None, "--array-parallelism", help="Jobs of the array running at once (slurm; default: no limit)."
    ),
    status: bool = typer.Option(
        False, "--status", help="List the preset's runs: done, running, submitted, failed or to do, with job ids."
    ),
) -> None:
    """Run a preset of models × seeds, skipping runs whose record already exists (here, or as Slurm jobs)."""
    from mtbench.errors import UsageError

    try:
        seed_list = [int(s) for s in seeds.split(",")] if seeds else None
    except ValueError:
        raise UsageError(f"--seeds {seeds}: comma-separated integers") from None
    if status:
        from mtbench.slurm import format_status, preset_name, sweep_status

        rows = sweep_status(preset, seeds=seed_list, results=results, extra_sets=set_)
        console.print(format_status(rows, preset_name(preset)), highlight=False, soft_wrap=True, markup=False)
        return
    if executor is SweepExecutor.local:
        given = [
            opt
            for opt, v in (
                ("--partition", partition),
                ("--gpus-per-run", gpus_per_run),
                ("--time", time_),
                ("--array-parallelism", array_parallelism),
            )
            if v is not None
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only with --executor slurm or submitit-local")
    else:
        if jobs != 1:
            raise UsageError(f"--jobs {jobs}: only with --executor local (jobs: --array-parallelism)")
        if not dry_run:
            _submit_sweep(
                preset,
                executor.value,
                seed_list,
                results,
                set_,
                partition=partition,
                gpus_per_run=gpus_per_run,
                time_=time_,
                array_parallelism=array_parallelism,
                threads=threads,
            )
            return
    from mtbench.sweep import run_sweep

    todo = run_sweep(
        preset,
        seeds=seed_list,
        results=results,
        jobs=jobs,
        extra_sets=set_,
        dry_run=dry_run,
        on_done=lambda line: typer.echo(line, err=True),
        threads=threads,
    )
    for args in todo:
        console.print(
            ("to run: " if dry_run else "ran: ") + "mtbench " + " ".join(args), highlight=False, soft_wrap=True
        )
    console.print(f"{len(todo)} run(s) {'to do' if dry_run else 'done'}")


def _submit_sweep(
    preset: str,
    executor: str,
    seeds: list[int] | None,
    results: Path,
    sets: list[str] | None,
    *,
    partition: str | None,
    gpus_per_run: int | None,
    time_: str | None,
    array_parallelism: int | None,
    threads: int | None,
) -> None:
    from mtbench.slurm import parse_time, submit_sweep

    sub = submit_sweep(
        preset,
        executor=executor,
        seeds=seeds,
        results=results,
        extra_sets=sets,
        partition=partition,
        gpus_per_run=gpus_per_run,
        timeout_min=parse_time(time_) if time_ is not None else None,
        array_parallelism=array_parallelism,
        threads=threads,
    )
    out = lambda line: console.print(line, highlight=False, soft_wrap=True, markup=False)  # noqa: E731
    for run, job_id, state in sub.active:
        out(f"{state}: {run.name}: job {job_id} (not submitted again)")
    for run, job in sub.submitted:
        out(f"submitted: {run.name}: job {job.job_id}: " + "; ".join("mtbench " + " ".join(a) for a in run.todo))
    out(
        f"{len(sub.submitted)} run(s) submitted ({executor}; logs in {sub.logs}, ledger {sub.ledger}); "
        f"`mtbench sweep --preset {preset} --status` lists them"
    )


@app.command("reproduce")
def reproduce_cmd(
    table: str = typer.Argument(..., help="Paper table: nyud-table2a."),
    data_root: str | None = typer.Option(None, "--data-root", help="Dataset folder."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:N or auto."),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds."),
    results: Path = typer.Option(Path("results"), help="Results root (rows already recorded are skipped)."),
    jobs: int = typer.Option(1, help="Runs in parallel."),
    set_: list[str] | None = typer.Option(None, "--set", help="Extra override for every run."),
    fmt: str = typer.Option("github", "--format", help="github, csv or json."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list the runs still to do, then compare."),
) -> None:
    """Run every row of a paper table with the release's protocol; print measured beside reported."""
    from mtbench.errors import UsageError
    from mtbench.reproduce import render, reproduce

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds {seeds}: expected comma-separated integers, e.g. 0,1,2") from None
    if fmt not in ("github", "csv", "json"):
        raise UsageError(f"--format {fmt}: choose github, csv or json")
    spec, todo, lines = reproduce(
        table,
        seeds=seed_list,
        results=results,
        data_root=data_root,
        device=device,
        extra_sets=set_,
        jobs=jobs,
        dry_run=dry_run,
        on_done=lambda line: typer.echo(line, err=True),
    )
    if dry_run:
        for args in todo:
            typer.echo("to run: mtbench " + " ".join(args), err=True)
    typer.echo(f"{len(todo)} run(s) {'to do' if dry_run else 'done'}", err=True)
    typer.echo(render(spec, lines, fmt))


@app.command("edges")
def edges_cmd(
    pred_dir: Path = typer.Argument(..., help="Soft boundary maps in [0, 1] (.png or .npy)."),
    gt_dir: Path = typer.Argument(..., help="Ground truth (.png/.npy boundary maps, or .mat LabelMap)."),
    protocol: str | None = typer.Option(
        None,
        "--protocol",
        help="bsds, seism or release (default: bsds for .png/.npy boundary maps, seism for .mat label maps).",
    ),
    max_dist: float = typer.Option(0.0075, "--max-dist", help="Tolerance × image diagonal (NYUD: 0.011)."),
    thresholds: str = typer.Option("99", help="Count K (0.01..0.99 for 99), 'seism' (101) or a list."),
    nms: bool = typer.Option(
        False,
        "--nms/--no-nms",
        help="Edge NMS of the predictions before thresholding (off by default in every protocol).",
    ),
    workers: int = typer.Option(1, help="Processes evaluating images in parallel."),
    out: Path | None = typer.Option(None, help="Folder for pr_curve.csv/png (default <PRED_DIR>_eval)."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Boundary detection scores of a prediction folder: ODS-F, OIS-F, AP under a named protocol
    (bsds / seism / release, printed with the scores), no MATLAB."""
    import json

    from rich.progress import Progress

    from mtbench.metrics.boundary import (
        EdgeEvalConfig,
        check_protocol,
        default_protocol,
        evaluate_folder,
        make_thresholds,
        write_pr_curve,
    )

    name = check_protocol(protocol, "--protocol") if protocol is not None else default_protocol(pred_dir, gt_dir)
    cfg = EdgeEvalConfig(
        max_dist=max_dist, thresholds=tuple(make_thresholds(thresholds).tolist()), nms=nms, protocol=name
    )
    with Progress(console=err_console, transient=True, disable=json_) as bar:
        job = bar.add_task("evaluating boundaries", total=None)
        res = evaluate_folder(pred_dir, gt_dir, cfg, workers, lambda i, n: bar.update(job, completed=i, total=n))
    files = write_pr_curve(res, out or pred_dir.parent / f"{pred_dir.name}_eval")
    s = res.summary()
    if json_:
        console.print(
            json.dumps(s | {"protocol": cfg.describe(), "files": [str(f) for f in files]}),
            soft_wrap=True,
            highlight=False,
        )
        return
    console.print(_edges_protocol_line(cfg, protocol is None), soft_wrap=True, highlight=False)
    other = f"plain max {s['odsF_max']:.2f}" if cfg.spec.ods_interpolated else f"interp {s['odsF_interp']:.2f}"
    console.print(
        f"ODS-F {s['odsF']:.2f} (t={s['ods_threshold']:.2f}; {other})  OIS-F {s['oisF']:.2f}  "
        f"AP {s['AP']:.2f}  [{s['n_images']} images]\nwrote {files[0]}, {files[1]}",
        soft_wrap=True,
        highlight=False,
    )


def _edges_protocol_line(cfg, defaulted: bool) -> str:
    """One line naming the edge protocol and its settings (``mtbench edges``)."""
    d, t = cfg.describe(), cfg.thresholds
    gt = "GT thinned" if cfg.thin_gt else "GT as given"
    ods = "ODS interpolated max" if cfg.spec.ods_interpolated else "ODS plain max"
    why = " (default for this ground truth)" if defaulted else ""
    return (
        f"protocol {d['protocol']}{why}: {gt}, {d['binarise']}, {ods}, NMS {'on' if cfg.nms else 'off'}, "
        f"{len(t)} thresholds in [{t[0]:.4g}, {t[-1]:.4g}], max_dist {cfg.max_dist}"
    )


def _one_line(msg: str) -> str:
    """An error message as one line; for an error re-raised from a DataLoader worker (whose message holds
    the worker's traceback) the original message, e.g. the DataError naming the bad file."""
    if "Original Traceback" in msg:
        last = [line for line in msg.splitlines() if line.strip()][-1]
        return last.split(": ", 1)[-1] + " (in a DataLoader worker)"
    return " ".join(msg.split())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors, exit 1 for failures and 2 for usage errors."""
    from rich.markup import escape

    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        app(args=argv, standalone_mode=False)
    except MtbenchError as e:
        if debug:
            raise
        label = "interrupted:" if e.exit_code == 130 else "[red]error:[/red]"
        err_console.print(f"{label} {escape(_one_line(str(e)))}", highlight=False, soft_wrap=True)
        raise SystemExit(e.exit_code) from None
    except typer.Abort:
        err_console.print("aborted")
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None
    except Exception as e:
        # typer vendors click: its usage errors (exit 2) and Exit carry ``exit_code``.
        if hasattr(e, "exit_code") and not debug:
            format_message = getattr(e, "format_message", lambda: "")
            if format_message():  # a usage error: one line naming the option
                err_console.print(
                    f"[red]error:[/red] {escape(_one_line(format_message()))} (see --help)",
                    highlight=False,
                    soft_wrap=True,
                )
            raise SystemExit(e.exit_code) from None
        if debug:
            raise
        err_console.print(
            f"[red]error:[/red] {type(e).__name__}: {escape(_one_line(str(e)))} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
