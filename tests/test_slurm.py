"""Sweeps as jobs through submitit (`mtbench sweep --executor slurm|submitit-local`), driven through submitit's real
job path with its LocalExecutor (each job a local process tree: controller, job process, `mtbench run`): records
land in the results folder, `--status` lists runs with their job ids, a job killed mid-run is failed and a later
sweep resubmits it as `run --resume`, and a job signalled for pre-emption checkpoints, requeues and resumes."""

from __future__ import annotations

import os
import pickle
import re
import signal
import sys
import time
from pathlib import Path

import pytest
from conftest import one_line_error

from mtbench import sweep
from mtbench.cli import main
from mtbench.engine.checkpoint import load_checkpoint
from mtbench.reporting.results import load_records

submitit = pytest.importorskip("submitit")
from mtbench import slurm  # noqa: E402

# mtl on 16 training images, batch 4: 4 steps; a checkpoint after each (the sweep's every 50, overridden)
_TINY = (
    "data.n_train=16",
    "data.n_val=4",
    "data.train_size=[64,64]",
    "data.tasks=[semseg,depth]",
    "data.aux_tasks=[]",
    "train.epochs=1",
    "train.batch_size=4",
    "eval.batch_size=4",
    "run.profile=false",
)
_LINUX = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A named two-seed preset of tiny mtl runs; the test's folder is the working folder (job logs go to
    ./runs/slurm-logs/<preset>/, run folders to ./work)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the jobs' runs inherit it
    preset = sweep.Preset("tiny jobs", (sweep.Entry("mtl"),), sets=_TINY, seeds=(0, 1), name="tiny-jobs")
    monkeypatch.setitem(sweep.PRESETS, "tiny-jobs", preset)
    extra = [f"run.runs_dir={tmp_path / 'work'}", "train.checkpoint_every_iters=1"]
    return tmp_path / "results", extra


def _sets(extra: list[str]) -> list[str]:
    return [x for s in extra for x in ("--set", s)]


def _wait(cond, what: str, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _status(results: Path, capsys) -> list[list[str]]:
    """The rows of `mtbench sweep --status` ([run, seed, state, job, note]) as printed."""
    capsys.readouterr()
    main(["sweep", "--preset", "tiny-jobs", "--results", str(results), "--status"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("preset tiny-jobs: ") and lines[1].split() == ["run", "seed", "state", "job", "note"]
    spans = [m.span() for m in re.finditer(r"-+", lines[2])]
    return [[ln[a : (b if i < 4 else None)].strip() for i, (a, b) in enumerate(spans)] for ln in lines[3:]]


def _global_step(run_dir: Path) -> int:
    return load_checkpoint(run_dir / "checkpoint.pt")["train_state"]["global_step"]


def test_killed_jobs_fail_then_a_later_sweep_resubmits_and_resumes_them(tiny, monkeypatch, capsys):
    """Two runs as two jobs, each killed (SIGKILL, no chance to save) after step 2: `--status` says failed with the
    job ids and why; `mtbench sweep --executor submitit-local` submits them again as `run --resume`, does not submit
    running jobs twice, and both records land with `--status` showing them done with the new job ids."""
    results, extra = tiny
    monkeypatch.setenv("MTBENCH_TEST_KILL_AT", "step:2")  # inherited by the jobs' runs
    sub = slurm.submit_sweep("tiny-jobs", executor="submitit-local", results=results, extra_sets=extra)
    first = {run.seed: str(job.job_id) for run, job in sub.submitted}
    assert sorted(first) == [0, 1] and sub.active == []
    rows = _status(results, capsys)  # the job processes run (or just ended)
    assert [(r[0], r[1], r[3]) for r in rows] == [("mtl", "0", first[0]), ("mtl", "1", first[1])]
    assert {r[2] for r in rows} <= {"running", "failed"}
    for _, job in sub.submitted:
        _wait(job.done, f"job {job.job_id}")
        with pytest.raises(submitit.core.utils.FailedJobError, match="exit -9: mtbench run --model mtl"):
            job.result()
    runs = sorted((tiny[0].parent / "work").iterdir())
    assert len(runs) == 2 and [_global_step(d) for d in runs] == [2, 2]
    assert not results.exists() or load_records(results) == []
    rows = _status(results, capsys)
    assert [r[2:4] for r in rows] == [["failed", first[0]], ["failed", first[1]]]
    assert all(r[4].startswith("exit -9: mtbench run --model mtl") for r in rows)

    monkeypatch.delenv("MTBENCH_TEST_KILL_AT")
    argv = ["sweep", "--preset", "tiny-jobs", "--executor", "submitit-local", "--results", str(results), *_sets(extra)]
    capsys.readouterr()
    main(argv)
    out = capsys.readouterr().out.splitlines()
    submitted = sorted(ln for ln in out if ln.startswith("submitted: "))
    assert len(submitted) == 2 and out[-1].startswith("2 run(s) submitted (submitit-local; logs in ")
    assert [ln.split(": ", 3)[3] for ln in submitted] == [f"mtbench run --resume {d}" for d in runs]
    second = {int(ln.split(": ")[1].split()[-1]): ln.split(": ")[2].split()[1] for ln in submitted}
    assert second.keys() == {0, 1} and not set(second.values()) & set(first.values())
    main(argv)  # while they run: nothing is submitted twice
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("0 run(s) submitted") and sum("(not submitted again)" in ln for ln in out) == 2

    _wait(lambda: not any(slurm._local_alive(j) for j in second.values()), "the resubmitted jobs")
    rows = _status(results, capsys)
    assert [r[:4] for r in rows] == [["mtl", "0", "done", second[0]], ["mtl", "1", "done", second[1]]]
    records = load_records(results)
    assert sorted(r.id for r in records) == [d.name for d in runs]  # resumed in their folders, none started anew
    assert sorted((tiny[0].parent / "work").iterdir()) == runs and [_global_step(d) for d in runs] == [4, 4]
    ledger = slurm.read_ledger(results, "tiny-jobs")["runs"]
    assert {e["seed"]: e["earlier_jobs"] for e in ledger.values()} == {0: [first[0]], 1: [first[1]]}


def _procs() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) of the processes visible in /proc."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            out[int(d.name)] = (int(fields[1]), fields[0])
    return out


def _stopped_run(controller: int) -> tuple[int, int] | None:
    """(job process, run) where the run below the job's controller stopped itself, or None."""
    procs = _procs()
    for pid, (ppid, state) in procs.items():
        if state == "T" and ppid in procs and procs[ppid][0] == controller:
            return ppid, pid
    return None


@_LINUX
def test_preempted_job_checkpoints_requeues_and_resumes(tiny, monkeypatch, capsys):
    """The pre-emption signal (SIGUSR2, what Slurm sends and submitit's local controller sends at a time limit) to
    a job whose run is mid-epoch: RunJob.checkpoint stops the run with SIGTERM (checkpoint saved), submitit requeues
    the job with `run --resume <run folder>`, and the same job finishes the run in that folder."""
    results, extra = tiny
    # the run stops itself (SIGSTOP) after step 3 and its checkpoint, so it is surely mid-run when signalled; the
    # resumed run has at most one step left and never stops
    monkeypatch.setenv("MTBENCH_TEST_KILL_AT", "step:3:STOP")
    sub = slurm.submit_sweep("tiny-jobs", executor="submitit-local", seeds=[0], results=results, extra_sets=extra)
    ((run, job),) = sub.submitted
    found: list[tuple[int, int] | None] = [None]

    def stopped() -> bool:
        found[0] = _stopped_run(int(job.job_id))
        return found[0] is not None

    _wait(stopped, "the run to stop at step 3")
    assert found[0] is not None
    job_pid, run_pid = found[0]
    blocked = next(ln for ln in Path(f"/proc/{run_pid}/status").read_text().splitlines() if ln.startswith("SigBlk"))
    assert int(blocked.split()[1], 16) & (1 << (signal.SIGUSR2 - 1))  # the run never sees the pre-emption signal
    (run_dir,) = (tiny[0].parent / "work").iterdir()
    assert _global_step(run_dir) == 3
    os.kill(job_pid, signal.SIGUSR2)

    _wait(job.done, f"job {job.job_id}")
    assert job.result() == [["run", "--resume", str(run_dir)]]  # the requeued submission's runs
    out, err = job.stdout() or "", job.stderr() or ""
    assert f"Requeued job {job.job_id}" in out + err
    assert "SIGTERM received: checkpoint saved at epoch 1 step" in err
    assert f"mtbench job: mtbench run --resume {run_dir}" in out
    (rec,) = load_records(results)
    assert rec.id == run_dir.name and rec.seed == 0 and rec.status == "complete"
    assert [d.name for d in (tiny[0].parent / "work").iterdir()] == [run_dir.name] and _global_step(run_dir) == 4
    rows = _status(results, capsys)
    assert [r[:4] for r in rows] == [["mtl", "0", "done", str(job.job_id)], ["mtl", "1", "to do", "-"]]


def test_checkpoint_stops_the_run_and_returns_its_resume(tmp_path, monkeypatch):
    """RunJob.checkpoint, called directly: SIGTERM to the running child, then a DelayedSubmission whose RunJob
    runs the planned runs again (here: the run folder's resume); torchrun on several GPUs; picklable."""
    import subprocess

    from submitit.helpers import DelayedSubmission

    monkeypatch.chdir(tmp_path)  # a RunJob works in its submission folder

    run_dir = tmp_path / "runs" / "x"
    run_dir.mkdir(parents=True)
    job = slurm.RunJob([["run", "--resume", str(run_dir)]], tmp_path, gpus=1, label="x seed 0")
    job._proc = proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    delayed = job.checkpoint()
    assert proc.wait(5) == -signal.SIGTERM
    assert isinstance(delayed, DelayedSubmission) and isinstance(delayed.function, slurm.RunJob)
    assert delayed.function.runs == [["run", "--resume", str(run_dir)]] and delayed.function.label == "x seed 0"
    (run_dir / "record.json").write_text("{}")  # finished meanwhile: nothing left to run
    assert slurm.RunJob(job.runs, tmp_path)() == []
    again = pickle.loads(pickle.dumps(job))
    assert again._proc is None and again.runs == job.runs
    assert job.command(["run"])[1:] == ["-m", "mtbench", "run"]
    four = slurm.RunJob([], tmp_path, gpus=4).command(["run", "--resume", "r"])
    assert four[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4"] + [
        "-m",
        "mtbench",
        "run",
        "--resume",
        "r",
    ]


def test_slurm_without_slurm_and_bad_options_say_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    base = ["sweep", "--preset", "ci"]
    line = one_line_error([*base, "--executor", "slurm", "--time", "12:00:00"], capsys, 2, "no Slurm here")
    assert "sbatch and srun not found" in line and "--executor local" in line
    one_line_error([*base, "--executor", "slurm", "--time", "12h"], capsys, 2, r"--time 12h: give minutes")
    one_line_error([*base, "--partition", "gpu", "--time", "60"], capsys, 2, r"--partition, --time: only with")
    one_line_error([*base, "--executor", "slurm", "--jobs", "2"], capsys, 2, r"--jobs 2: only with --executor local")
    one_line_error([*base, "--executor", "submitit-local", "--array-parallelism", "2"], capsys, 2, "only with --exec")
    one_line_error([*base, "--executor", "cluster"], capsys, 2, "executor")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()
    assert [slurm.parse_time(t) for t in ("720", "12:00:00", "0:00:30", "1-02:00:00")] == [720, 720, 1, 1560]
