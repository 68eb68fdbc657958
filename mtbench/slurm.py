"""Sweeps as cluster jobs through submitit (the optional extra ``[slurm]``): one job per run of a preset.

``mtbench sweep --executor slurm`` submits the runs that ``sweep.plan_runs`` lists as one Slurm job array; each
job runs the same ``mtbench run`` a local sweep runs (under ``torchrun`` when a run has several GPUs) and writes
its record into the shared results folder. ``--executor submitit-local`` runs the same jobs as local processes
(submitit's LocalExecutor, every run at once): the Slurm path without Slurm, which the tests drive.

Pre-emption and time limits: submitit signals the job (``SIGUSR2`` by default, 90 s before the limit, or on
pre-emption where the cluster sends it) and calls ``RunJob.checkpoint``, which sends ``SIGTERM`` to the run (the
trainer saves a checkpoint and exits) and returns the submission that requeues it: the same runs, planned again,
so a run with a checkpoint continues with ``run --resume <run folder>``. A job requeued by Slurm itself, or
submitted again by a later sweep, plans its runs the same way.

Each submission is noted in a ledger, ``<results>/.sweeps/<preset>.json`` (run, job id, arguments, log folder),
which ``mtbench sweep --status`` reads beside the records to list each run as done, running, submitted, failed or
to do.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mtbench.errors import MtbenchError, UsageError
from mtbench.sweep import PlannedRun, Preset, get_preset, plan_runs, remaining

EXECUTORS = ("local", "slurm", "submitit-local")
LEDGER_DIR = ".sweeps"
LOG_ROOT = Path("runs") / "slurm-logs"
STOP_GRACE_S = 60.0
"""Seconds a run gets to save its checkpoint and exit after SIGTERM before it is killed (submitit signals a
job 90 s before its time limit)."""
LOCAL_TIMEOUT_MIN = 24 * 60
"""The job time limit of ``--executor submitit-local`` when ``--time`` is not given."""

_ACTIVE = {"RUNNING", "COMPLETING", "CONFIGURING", "RESIZING", "SIGNALING", "STAGE_OUT"}
_WAITING = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "SUSPENDED", "RESV_DEL_HOLD", "UNKNOWN", ""}


def parse_time(text: str) -> int:
    """A job time limit in whole minutes (rounded up) from minutes (``720``), ``H:MM:SS`` or ``D-H:MM:SS``."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{1,2}):(\d{1,2})", text.strip())
    if m:
        d, h, mi, s = (int(g or 0) for g in m.groups())
        if mi > 59 or s > 59:
            raise UsageError(f"--time {text}: minutes and seconds must be below 60")
        minutes = d * 1440 + h * 60 + mi + (1 if s else 0)
    elif text.strip().isdigit():
        minutes = int(text.strip())
    else:
        raise UsageError(f"--time {text}: give minutes (720), H:MM:SS (12:00:00) or D-H:MM:SS (1-00:00:00)")
    if minutes < 1:
        raise UsageError(f"--time {text}: must be at least one minute")
    return minutes


def preset_name(preset: str | Preset) -> str:
    """The name a preset's jobs, logs and ledger go by."""
    name = preset if isinstance(preset, str) else preset.name
    if not name:
        raise UsageError("a preset submitted as jobs needs a name (Preset.name)")
    return name


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise UsageError(
            "--executor slurm needs submitit: pip install 'mtbench[slurm]' (or pip install submitit)"
        ) from None
    return submitit


def _require_slurm() -> None:
    missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
    if missing:
        raise UsageError(
            f"--executor slurm: no Slurm here ({' and '.join(missing)} not found on PATH); run the sweep on a "
            "Slurm login node, or use --executor local (or submitit-local: the same jobs as local processes)"
        )


# ---- the job ----------------------------------------------------------------------------------------------


def _preempt_signal() -> signal.Signals:
    """The signal submitit's job handler checkpoints on (SUBMITIT_PREEMPT_SIGNAL, default USR2)."""
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


def _wait_exit(pid: int, timeout_s: float) -> bool:
    """Whether child ``pid`` exits within ``timeout_s``, without reaping it (its Popen may be waiting for it in
    the frame a signal handler interrupted)."""
    end = time.monotonic() + timeout_s
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # reaped already
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.1)


def _job_cpus() -> int:
    """The CPUs this process may run on (a Slurm job's allocation), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class RunJob:
    """One job of a sweep: its ``mtbench run`` argument lists (one run; a single_task run with tasks missing: one
    list per task), run one after the other as subprocesses in the submitting folder. Picklable; submitit calls
    it in the job and calls ``checkpoint`` when the job is pre-empted or reaches its time limit."""

    def __init__(
        self,
        runs: list[list[str]],
        cwd: str | Path,
        gpus: int = 0,
        threads: int | None = None,
        label: str = "",
        grace_s: float = STOP_GRACE_S,
    ) -> None:
        self.runs = [list(a) for a in runs]
        self.cwd = str(Path(cwd).absolute())
        self.gpus = gpus
        self.threads = threads
        self.label = label
        self.grace_s = grace_s
        self._proc: subprocess.Popen[bytes] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_proc"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._proc = None

    def __repr__(self) -> str:
        return f"RunJob({self.label or self.runs!r})"

    def command(self, args: list[str]) -> list[str]:
        """The command of one run: ``python -m mtbench ...``, under torchrun on several GPUs."""
        if self.gpus > 1:
            launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(self.gpus)]
            return [sys.executable, *launcher, "-m", "mtbench", *args]
        return [sys.executable, "-m", "mtbench", *args]

    def __call__(self) -> list[list[str]]:
        """Run what is still to do of ``runs`` (planned again: see ``sweep.remaining``); returns those lists."""
        os.chdir(self.cwd)
        todo = remaining(self.runs)
        if not todo:
            print("mtbench job: nothing to do, every record exists", flush=True)
        for args in todo:
            print("mtbench job: mtbench " + " ".join(args), flush=True)
            rc = self._run(args)
            if rc == 130:
                raise MtbenchError(
                    "interrupted, checkpoint saved (resumed when the job is requeued, or by a later `mtbench sweep`): "
                    "mtbench " + " ".join(args)
                )
            if rc != 0:
                raise MtbenchError(f"exit {rc}: mtbench {' '.join(args)}")
        return todo

    def _run(self, args: list[str]) -> int:
        env = dict(os.environ)
        threads = self.threads or (None if "OMP_NUM_THREADS" in env else _job_cpus() // max(1, self.gpus))
        if threads:  # the CPUs the job was given (its affinity), not the node's: the run's default
            env.update(OMP_NUM_THREADS=str(max(1, threads)), MKL_NUM_THREADS=str(max(1, threads)))
        # The run never sees submitit's pre-emption signal (which Slurm may send to every process of the job, and
        # which would end it unsaved): blocked while it starts, the mask stays blocked in it. The job's handler
        # stops it with SIGTERM instead.
        sig = _preempt_signal()
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
        try:
            self._proc = proc = subprocess.Popen(self.command(args), env=env)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        try:
            return proc.wait()
        finally:
            if proc.poll() is None:  # the job is ending otherwise (cancelled, an error): let the run save, then end
                proc.terminate()
                try:
                    proc.wait(self.grace_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._proc = None

    def _stop_run(self) -> None:
        """SIGTERM to the running run (SIGCONT too, should it be stopped), then wait for it to save and exit;
        killed after ``grace_s``."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                return
        if not _wait_exit(proc.pid, self.grace_s):
            print(f"mtbench job: the run did not exit {self.grace_s:.0f} s after SIGTERM; killed", flush=True)
            os.kill(proc.pid, signal.SIGKILL)
            _wait_exit(proc.pid, 10.0)

    def checkpoint(self) -> Any:
        """submitit's hook on pre-emption or time limit: stop the run (it saves a checkpoint) and return the
        submission that requeues this job: its runs planned again (``run --resume <run folder>`` where a
        checkpoint exists)."""
        from submitit.helpers import DelayedSubmission

        self._stop_run()
        try:
            todo = remaining(self.runs)
        except MtbenchError as e:  # planned again when the requeued job starts
            print(f"mtbench job: could not plan the requeued job now ({e}); it plans when it starts", flush=True)
            todo = self.runs
        print("mtbench job: requeued to run " + "; ".join("mtbench " + " ".join(a) for a in todo), flush=True)
        return DelayedSubmission(RunJob(todo, self.cwd, self.gpus, self.threads, self.label, self.grace_s))


# ---- the ledger -------------------------------------------------------------------------------------------


def ledger_path(results: Path | str, name: str) -> Path:
    return Path(results) / LEDGER_DIR / f"{name}.json"


def read_ledger(results: Path | str, name: str) -> dict[str, Any]:
    path = ledger_path(results, name)
    if not path.exists():
        return {"preset": name, "sets": [], "runs": {}}
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
            raise ValueError("no 'runs' mapping")
    except (OSError, ValueError) as e:
        raise MtbenchError(f"{path}: not a sweep ledger ({e}); delete it to start a new one") from None
    return data


def _write_ledger(
    results: Path, name: str, sets: list[str], submitted: list[tuple[PlannedRun, Any]], **how: Any
) -> None:
    """Add the jobs just submitted to the ledger (read, update and atomically replaced under a lock)."""
    from mtbench.reporting.results import atomic_write_text

    path = ledger_path(results, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except (ImportError, OSError):  # no file locks here: concurrent submissions may drop an entry
            pass
        data = read_ledger(results, name)
        data["sets"] = list(sets)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for run, job in submitted:
            old = data["runs"].get(run.name, {})
            data["runs"][run.name] = {
                "label": run.label,
                "seed": run.seed,
                "job_id": str(job.job_id),
                "earlier_jobs": [*old.get("earlier_jobs", []), *([old["job_id"]] if "job_id" in old else [])],
                "args": run.todo,
                "submitted": stamp,
                **how,
            }
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")


# ---- job states -------------------------------------------------------------------------------------------


def _err_tail(folder: Path, job_id: str) -> str:
    """The last line of the job's stderr (an error's message), if any."""
    try:
        lines = [ln.strip() for ln in (folder / f"{job_id}_0_log.err").read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    last = re.sub(r"^[\w.]+(Error|Exception): ", "", next((ln for ln in reversed(lines) if ln), ""))
    return last if len(last) <= 160 else last[:157] + "..."


def _local_alive(job_id: str) -> bool:
    """Whether the controller process of a submitit-local job (its id is the pid) still runs."""
    try:
        pid = int(job_id)
    except ValueError:
        return False
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():
        try:
            return b"submitit" in proc.read_bytes()  # a zombie's is empty
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _slurm_states(job_ids: list[str]) -> dict[str, str]:
    """sacct states of Slurm jobs through submitit's watcher ('UNKNOWN' where sacct does not say)."""
    try:
        from submitit import SlurmJob
    except ImportError:
        return {j: "UNKNOWN" for j in job_ids}
    sub_log = logging.getLogger("submitit")
    level = sub_log.level
    sub_log.setLevel(logging.ERROR)  # an unreachable sacct is a state of UNKNOWN here, not a warning
    try:
        watcher = SlurmJob.watcher
        for j in job_ids:
            watcher.register_job(j)
        watcher.update()
        return {j: watcher.get_state(j, mode="cache").split()[0].upper() for j in job_ids}
    finally:
        sub_log.setLevel(level)


def job_state(entry: dict[str, Any], slurm_states: dict[str, str]) -> tuple[str, str]:
    """(state, note) of a ledger entry whose run has no record yet: running, submitted or failed."""
    job_id, folder = str(entry.get("job_id", "")), Path(entry.get("logs", "."))
    finished = (folder / f"{job_id}_0_result.pkl").exists()
    if entry.get("executor") == "slurm":
        state = slurm_states.get(job_id, "UNKNOWN")
        if state in _ACTIVE:
            return "running", "" if state == "RUNNING" else state
        if state in _WAITING and not (finished and state == "UNKNOWN"):
            return "submitted", {"PENDING": "", "UNKNOWN": "state unknown (sacct)"}.get(state, state)
        return "failed", (state + ": " if state not in _WAITING else "") + (_err_tail(folder, job_id) or "no record")
    if _local_alive(job_id):
        return "running", ""
    if finished:
        return "failed", _err_tail(folder, job_id) or "finished without its record"
    return "failed", "job process gone: " + (_err_tail(folder, job_id) or "no result")


@dataclass
class StatusRow:
    run: str
    seed: int
    state: str
    job: str
    note: str


def sweep_status(
    preset: str | Preset,
    *,
    seeds: list[int] | None = None,
    results: Path | str = "results",
    extra_sets: list[str] | None = None,
) -> list[StatusRow]:
    """Every run of the preset (its seeds and any submitted) with its state: done (its records exist), running,
    submitted or failed (its job in the ledger), or to do (noting a checkpoint the run would resume)."""
    name = preset_name(preset)
    results = Path(results)
    ledger = read_ledger(results, name)
    entries: dict[str, dict[str, Any]] = ledger["runs"]
    if extra_sets is None:
        extra_sets = list(ledger.get("sets", []))
    if seeds is None:
        seeds = sorted(set(get_preset(preset).seeds) | {int(e["seed"]) for e in entries.values() if "seed" in e})
    planned = plan_runs(preset, seeds, results, extra_sets)
    slurm_ids = [
        str(entries[r.name]["job_id"])
        for r in planned
        if r.todo and r.name in entries and entries[r.name].get("executor") == "slurm"
    ]
    states = _slurm_states(slurm_ids) if slurm_ids else {}
    rows = []
    for r in planned:
        entry = entries.get(r.name)
        job = str(entry["job_id"]) if entry else "-"
        if not r.todo:
            rows.append(StatusRow(r.label, r.seed, "done", job, ""))
        elif entry:
            state, note = job_state(entry, states)
            rows.append(StatusRow(r.label, r.seed, state, job, note))
        else:
            resumes = [a[2] for a in r.todo if a[:2] == ["run", "--resume"]]
            rows.append(StatusRow(r.label, r.seed, "to do", job, f"resumes {', '.join(resumes)}" if resumes else ""))
    return rows


def format_status(rows: list[StatusRow], name: str) -> str:
    from tabulate import tabulate

    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    order = ("done", "running", "submitted", "failed", "to do")
    summary = ", ".join(f"{counts[s]} {s}" for s in order if s in counts)
    table = tabulate(
        [[r.run, r.seed, r.state, r.job, r.note] for r in rows],
        headers=["run", "seed", "state", "job", "note"],
        tablefmt="simple",
    )
    return f"preset {name}: {len(rows)} run(s): {summary or 'none'}\n{table}"


# ---- submission -------------------------------------------------------------------------------------------


@dataclass
class Submission:
    submitted: list[tuple[PlannedRun, Any]]  # (run, submitit job)
    active: list[tuple[PlannedRun, str, str]]  # (run, job id, state): still submitted or running, not resubmitted
    logs: Path
    ledger: Path


def submit_sweep(
    preset: str | Preset = "default",
    *,
    executor: str = "slurm",
    seeds: list[int] | None = None,
    results: Path | str = "results",
    extra_sets: list[str] | None = None,
    partition: str | None = None,
    gpus_per_run: int | None = None,
    timeout_min: int | None = None,
    array_parallelism: int | None = None,
    threads: int | None = None,
    log_root: Path | str = LOG_ROOT,
    grace_s: float = STOP_GRACE_S,
) -> Submission:
    """Submit the preset's runs still to do, one job each (one job array), skipping runs whose earlier job is
    still submitted or running; note them in the ledger. ``executor``: ``slurm`` or ``submitit-local``."""
    if executor not in ("slurm", "submitit-local"):
        raise UsageError(f"--executor {executor}: jobs are submitted with slurm or submitit-local")
    slurm = executor == "slurm"
    if slurm:
        _require_slurm()
        if timeout_min is None:
            raise UsageError("--executor slurm needs --time, the job time limit (e.g. --time 12:00:00)")
    else:
        for opt, value in (("--partition", partition), ("--array-parallelism", array_parallelism)):
            if value is not None:
                raise UsageError(f"{opt}: only with --executor slurm (submitit-local starts every job at once)")
    gpus = (1 if slurm else 0) if gpus_per_run is None else gpus_per_run
    if gpus < 0:
        raise UsageError(f"--gpus-per-run {gpus}: must be >= 0")
    if array_parallelism is not None and array_parallelism < 1:
        raise UsageError(f"--array-parallelism {array_parallelism}: must be >= 1")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: must be >= 1")
    submitit = _submitit()
    name = preset_name(preset)
    results = Path(results)
    extra = list(extra_sets or [])
    ledger = read_ledger(results, name)
    planned = [r for r in plan_runs(preset, seeds, results, extra) if r.todo]
    earlier = {r.name: ledger["runs"][r.name] for r in planned if r.name in ledger["runs"]}
    slurm_ids = [str(e["job_id"]) for e in earlier.values() if e.get("executor") == "slurm"]
    states = _slurm_states(slurm_ids) if slurm_ids else {}
    active = []
    for r in planned:
        if r.name in earlier:
            state = job_state(earlier[r.name], states)[0]
            if state in ("running", "submitted"):
                active.append((r, str(earlier[r.name]["job_id"]), state))
    busy = {r.name for r, _, _ in active}
    todo = [r for r in planned if r.name not in busy]
    logs = (Path(log_root) / name).absolute()
    if not todo:
        return Submission([], active, logs, ledger_path(results, name))
    ex = submitit.AutoExecutor(folder=logs, cluster="slurm" if slurm else "local")
    params: dict[str, Any] = {
        "name": f"mtbench-{name}",
        "timeout_min": timeout_min or LOCAL_TIMEOUT_MIN,
        "nodes": 1,
        "tasks_per_node": 1,
    }
    if gpus:
        params["gpus_per_node"] = gpus
    if threads:
        params["cpus_per_task"] = threads
    if partition:
        params["slurm_partition"] = partition
    if array_parallelism:
        params["slurm_array_parallelism"] = array_parallelism
    ex.update_parameters(**params)
    cwd = Path.cwd()
    jobs = ex.submit_array([RunJob(r.todo, cwd, gpus, threads, r.name, grace_s) for r in todo])
    submitted = list(zip(todo, jobs))
    how = {"executor": executor, "logs": str(logs), "gpus": gpus, "timeout_min": params["timeout_min"]}
    _write_ledger(results, name, extra, submitted, **how)
    return Submission(submitted, active, logs, ledger_path(results, name))
