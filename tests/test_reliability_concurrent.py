"""Concurrent writers: several processes create runs and write records into one results folder while
others load every record and render the leaderboard; no record is lost or partial, no reader ever sees a
partial file, and run ids never collide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from conftest import tiny_overrides

from mtbench.config import build_config
from mtbench.engine import run as engine_run
from mtbench.reporting.results import load_records

WRITERS, PER_WRITER, NOTES = 4, 15, 1000  # records of ~40 kB: a non-atomic write would be seen half done

WRITER = textwrap.dedent("""
    import sys
    import time
    from pathlib import Path
    from mtbench.config import build_config
    from mtbench.engine.run import make_run_dir
    from mtbench.reporting.results import RunRecord, save_record

    results, runs = Path(sys.argv[1]), sys.argv[2]
    index, n, notes = (int(v) for v in sys.argv[3:6])
    cfg = build_config(None, [f"run.runs_dir={runs}", "model.name=mtl"])   # every writer: the same experiment
    (results.parent / f"ready-w{index}").touch()
    while not (results.parent / "go").exists():   # start together, after the imports
        time.sleep(0.01)
    for j in range(n):
        run_id = make_run_dir(cfg, ["semseg", "depth"])
        for rid in (run_id, "shared-record"):   # its own record, and one that every writer rewrites
            rec = RunRecord(id=rid, model="mtl", backbone="hrnet18", dataset="synthetic", tasks=["semseg", "depth"],
                            seed=index, metrics={"semseg": {"mIoU": 10.0 + j}, "depth": {"rmse": 1.0 + index}},
                            primary={"semseg": 10.0 + j, "depth": 1.0 + index},
                            notes=[f"writer {index} record {j} note {k}" for k in range(notes)])
            save_record(rec, results)
        print(run_id)
""")

READER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from mtbench.reporting.leaderboard import leaderboard
    from mtbench.reporting.results import load_records

    results, done, notes, index = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    (results.parent / f"ready-r{index}").touch()
    rounds = 0   # rounds that found records while the writers were still writing
    while True:
        finished = done.exists()
        records = load_records(results)   # raises on any partial or malformed file
        for r in records:
            assert len(r.notes) == notes, (r.where, len(r.notes))
        if records and index == "1":   # reader 0 only loads, reader 1 also renders the leaderboard
            leaderboard(results, fmt="github", out=results / "LEADERBOARD.md")
        rounds += bool(records) and not finished
        if finished:
            break
    print(rounds)
""")


def _spawn(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_concurrent_writers_and_readers(tmp_path):
    results, runs, done = tmp_path / "results", tmp_path / "runs", tmp_path / "writers-done"
    results.mkdir()
    readers = [_spawn(READER, results, done, NOTES, i) for i in range(2)]
    writers = [_spawn(WRITER, results, runs, i, PER_WRITER, NOTES) for i in range(WRITERS)]
    deadline = time.monotonic() + 240
    while len(list(tmp_path.glob("ready-*"))) < WRITERS + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    ids = []
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        ids += out.split()
    done.touch()
    for r in readers:
        out, err = r.communicate(timeout=300)
        assert r.returncode == 0, err  # no reader saw a partial or malformed record
        assert int(out) >= 1, out  # it read (and rendered the leaderboard) while the writers wrote

    assert len(ids) == len(set(ids)) == WRITERS * PER_WRITER  # run ids never collide
    assert sorted(p.name for p in runs.iterdir()) == sorted(ids)
    records = load_records(results)
    assert sorted(r.id for r in records) == sorted(ids + ["shared-record"])  # none lost
    by_writer = {}
    for r in records:
        assert len(r.notes) == NOTES
        by_writer.setdefault(r.seed, []).append(r.metrics["semseg"]["mIoU"])
    shared = next(r for r in records if r.id == "shared-record")
    assert shared.notes[0].startswith(f"writer {shared.seed} record ")  # one writer's complete version
    assert sorted(len(v) for v in by_writer.values()) >= [PER_WRITER] * WRITERS
    assert not list(results.rglob("*.tmp")) and not list(runs.rglob("*.tmp"))
    assert (results / "LEADERBOARD.md").read_text().startswith("|")


def test_run_folder_ids_are_redrawn_on_collision(tmp_path, monkeypatch):
    """A fresh run never reuses an existing run folder, even when the drawn id exists already."""
    cfg = build_config(None, tiny_overrides(tmp_path))
    existing = tmp_path / "runs" / "taken"
    existing.mkdir(parents=True)
    (existing / "checkpoint.pt").write_bytes(b"someone else's run")
    drawn = iter(["taken", "taken", "fresh"])
    monkeypatch.setattr(engine_run, "new_run_id", lambda cfg, tasks: next(drawn))
    assert engine_run.make_run_dir(cfg, ["semseg"]) == "fresh"
    assert (tmp_path / "runs" / "fresh").is_dir()
    assert (existing / "checkpoint.pt").read_bytes() == b"someone else's run"


def test_record_writes_leave_no_temp_and_readers_skip_hidden_files(tmp_path):
    """A temp file left by a killed writer (hidden, ``.tmp``) is never loaded as a record."""
    from mtbench.reporting.results import RunRecord, save_record

    rec = RunRecord(id="a", model="mtl", backbone="hrnet18", dataset="synthetic", tasks=["semseg"])
    path = save_record(rec, tmp_path)
    (path.parent / ".a.json.x1y2.tmp").write_text('{"id": "a", "mod')  # partial, as a SIGKILL leaves it
    (path.parent / ".hidden.json").write_text("{")
    assert [r.id for r in load_records(tmp_path)] == ["a"]
    assert json.loads(path.read_text())["id"] == "a"
