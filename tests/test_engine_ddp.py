"""Distributed: torchrun with 2 CPU processes (gloo) trains, reduces metrics and writes one record whose
metrics equal a 1-process evaluation of the same checkpoint."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from conftest import tiny_overrides

from mtbench.engine.run import eval_run
from mtbench.reporting.results import load_records


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes_equal_one_process_eval(tmp_path):
    # 5 val images: ranks get 3 and 2 (no padding, nothing counted twice)
    over = tiny_overrides(
        tmp_path, **{"model.name": "mtl", "data.n_val": 5, "data.aux_tasks": "[]", "eval.batch_size": 2}
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
        "-m",
        "mtbench",
        "run",
        "--device",
        "cpu",
    ]
    for item in over:
        cmd += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = load_records(tmp_path / "results")
    assert len(records) == 1  # written once, by rank 0
    ddp = records[0]
    run_dir = tmp_path / "runs" / ddp.id
    single, _ = eval_run(run_dir, results=str(tmp_path / "single"))
    # The reduction is exact; only float32 convolutions over differently composed batches (ranks see
    # 2+1 and 2 images, one process 2+2+1) differ in the last bits of the depth values.
    for task in ddp.tasks:
        for k, v in ddp.metrics[task].items():
            assert single.metrics[task][k] == pytest.approx(v, rel=1e-6, abs=1e-9), (task, k)
    assert single.metrics["semseg"]["mIoU"] == ddp.metrics["semseg"]["mIoU"]
